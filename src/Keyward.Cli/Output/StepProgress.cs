using Keyward.Engine;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Keyward.Cli;

/// <summary>How much a long command says while it works (<c>apply</c>, <c>apply --summary</c>, <c>apply --quiet</c>).</summary>
internal enum Verbosity
{
    /// <summary>Every credential and sink of the plan, then the result.</summary>
    Full,

    /// <summary>Counts per action instead of one line per credential and sink; progress as usual.</summary>
    Summary,

    /// <summary>Warnings, errors and one line of result; no plan, no progress.</summary>
    Quiet,
}

/// <summary>
/// Progress of counted work (<see cref="ProgressStep"/>) and the engine's other progress lines, on stderr:
/// on a terminal a Spectre.Console progress display (bar, done/total, percentage, time left) while
/// <see cref="RunAsync{T}"/> runs; otherwise one line per tenth of each phase (and its last step), so a log of a
/// 10,000-sink apply has a few dozen lines, not 10,000. Quiet prints nothing.
/// </summary>
internal sealed class StepProgress(CliConsole console, TimeProvider time, Verbosity verbosity)
{
    private readonly Dictionary<string, PhaseState> _phases = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private IAnsiConsole? _ansi;
    private ProgressContext? _live;

    private sealed class PhaseState(DateTimeOffset started)
    {
        public DateTimeOffset Started { get; } = started;
        public int LastTenth { get; set; } = -1;
        public ProgressTask? Task { get; set; }
    }

    private bool Interactive => console.ErrIsTerminal && verbosity != Verbosity.Quiet;

    /// <summary>Runs the work; on a terminal inside a live progress display that stays on screen with its final counts.</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> work)
    {
        if (!Interactive) return await work().ConfigureAwait(false);
        _ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(console.Err),
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            ColorSystem = ColorSystemSupport.Detect,
        });
        var display = _ansi.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new CountColumn(), new PercentageColumn(), new RemainingTimeColumn());
        try
        {
            return await display.StartAsync(async ctx =>
            {
                lock (_gate) _live = ctx;
                return await work().ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _live = null;
        }
    }

    /// <summary>A counted step from the engine.</summary>
    public void Step(ProgressStep step)
    {
        if (verbosity == Verbosity.Quiet || step.Total <= 0) return;
        lock (_gate)
        {
            if (!_phases.TryGetValue(step.Phase, out var phase))
                _phases[step.Phase] = phase = new PhaseState(time.GetUtcNow());
            if (_live is not null)
            {
                phase.Task ??= _live.AddTask(Markup.Escape(step.Phase), autoStart: true, maxValue: step.Total);
                phase.Task.MaxValue = step.Total;
                phase.Task.Value = step.Done;
                return;
            }
            var tenth = (int)((long)step.Done * 10 / step.Total);
            if (tenth <= phase.LastTenth && step.Done != step.Total) return;
            phase.LastTenth = tenth;
            var percent = (int)((long)step.Done * 100 / step.Total);
            console.Err.WriteLine($"[{step.Done}/{step.Total}] {step.Item} ({percent}% of {step.Phase}{TimeLeft(phase, step)})");
        }
    }

    /// <summary>A progress line that is not a counted step (a rotation's steps, a hook).</summary>
    public void Line(string line)
    {
        if (verbosity == Verbosity.Quiet) return;
        lock (_gate)
        {
            if (_ansi is not null && _live is not null) _ansi.WriteLine(line);
            else console.Err.WriteLine(line);
        }
    }

    /// <summary>", about 1m20s left" from the phase's pace so far; nothing before any time has passed or at the end.</summary>
    private string TimeLeft(PhaseState phase, ProgressStep step)
    {
        var elapsed = time.GetUtcNow() - phase.Started;
        if (step.Done >= step.Total || elapsed <= TimeSpan.Zero) return "";
        var left = TimeSpan.FromTicks(elapsed.Ticks / step.Done * (step.Total - step.Done));
        return $", about {Short(left)} left";
    }

    internal static string Short(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:00}s"
        : $"{Math.Max(1, (int)Math.Ceiling(t.TotalSeconds))}s";

    /// <summary>"1234/10000": the counts Spectre's own columns do not show.</summary>
    private sealed class CountColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text($"{task.Value:0}/{task.MaxValue:0}");
    }
}
