using System.CommandLine;

namespace Keyward.Cli;

/// <summary>The list of top-level commands. Each command lives in Commands/ in a file of its own;
/// add one line here per command group, with the name the command declares (a test checks that they agree).</summary>
internal static class CommandRegistry
{
    public static readonly IReadOnlyList<(string Name, Func<CliContext, Command> Build)> Entries =
    [
        ("init", Commands.InitCommand.Build),
        ("plan", Commands.ApplyCommand.BuildPlan),
        ("apply", Commands.ApplyCommand.BuildApply),
        ("list", Commands.ListCommand.Build),
        ("get", Commands.GetCommand.Build),
        ("nix", Commands.NixCommands.Build),
        ("token", Commands.TokenCommands.Build),
        ("tokens", Commands.LedgerCommands.BuildTokens),
        ("revoke", Commands.LedgerCommands.BuildRevoke),
        ("graph", Commands.GraphCommand.Build),
        ("rotate", Commands.RotateCommand.Build),
        ("audit", Commands.AuditCommand.Build),
        ("encrypt", Commands.AgeCommands.BuildEncrypt),
        ("decrypt", Commands.AgeCommands.BuildDecrypt),
        ("keygen", Commands.AgeCommands.BuildKeygen),
        ("check", Commands.CheckCommand.Build),
        ("reconcile", Commands.ReconcileCommand.Build),
        ("bootstrap", Commands.BootstrapCommand.Build),
        ("errors", Commands.ErrorsCommand.Build),
        ("schema", Commands.SchemaCommand.Build),
        ("export", Commands.AgenixCommands.BuildExport),
        ("import", Commands.AgenixCommands.BuildImport),
        ("store", Commands.StoreCommands.Build),
        ("serve", Commands.ServeCommand.Build),
        ("operator-token", Commands.OperatorTokenCommand.Build),
        ("agent", Commands.AgentCommand.Build),
        ("completion", Commands.CompletionCommands.BuildCompletion),
        ("man", Commands.CompletionCommands.BuildMan),
    ];

    public static IEnumerable<Command> Build(CliContext context) => Entries.Select(e => e.Build(context));

    /// <summary>The one command a command line names as its first word, when that is all parsing it needs: building the
    /// whole tree (28 commands, a few hundred options) took about a tenth of a no-op apply. Null when the first word is
    /// an option, unknown (a typo: did-you-mean needs every name), or a command that walks the whole tree (completion,
    /// man).</summary>
    /// <summary>True when the command line is <c>--version</c> and nothing else: the root's version option answers it,
    /// and no command needs building.</summary>
    public static bool IsVersionOnly(string[] args) => args is ["--version"];

    public static Func<CliContext, Command>? Only(string[] args) =>
        args.Length > 0 && args[0] is not ("completion" or "man")
            ? Entries.FirstOrDefault(e => e.Name == args[0]).Build
            : null;
}
