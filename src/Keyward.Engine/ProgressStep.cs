namespace Keyward.Engine;

/// <summary>One step of a counted loop (storing credentials, writing sinks): the host turns these into a progress bar
/// with counts and an estimate of the time left, or a line per tenth of the work when its output is not a terminal.</summary>
/// <param name="Phase">What the loop does ("storing credentials", "writing sinks"); the same text for every step of it.</param>
/// <param name="Done">Steps finished so far, 1 to <paramref name="Total"/>.</param>
/// <param name="Item">What this step did, for a person ("wrote /etc/nix/keyward.conf"); never a value.</param>
public sealed record ProgressStep(string Phase, int Done, int Total, string Item);
