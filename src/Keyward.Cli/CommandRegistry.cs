using System.CommandLine;

namespace Keyward.Cli;

/// <summary>The list of top-level commands. Each command lives in Commands/ in a file of its own;
/// add one line here per command group.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> Build(CliContext context)
    {
        yield return Commands.InitCommand.Build(context);
        yield return Commands.ApplyCommand.BuildPlan(context);
        yield return Commands.ApplyCommand.BuildApply(context);
        yield return Commands.ListCommand.Build(context);
        yield return Commands.GetCommand.Build(context);
        yield return Commands.NixCommands.Build(context);
        yield return Commands.TokenCommands.Build(context);
        yield return Commands.LedgerCommands.BuildTokens(context);
        yield return Commands.LedgerCommands.BuildRevoke(context);
        yield return Commands.GraphCommand.Build(context);
        yield return Commands.RotateCommand.Build(context);
        yield return Commands.AuditCommand.Build(context);
        yield return Commands.AgeCommands.BuildEncrypt(context);
        yield return Commands.AgeCommands.BuildDecrypt(context);
        yield return Commands.AgeCommands.BuildKeygen(context);
        yield return Commands.CheckCommand.Build(context);
        yield return Commands.ReconcileCommand.Build(context);
        yield return Commands.BootstrapCommand.Build(context);
        yield return Commands.ErrorsCommand.Build(context);
        yield return Commands.SchemaCommand.Build(context);
        yield return Commands.AgenixCommands.BuildExport(context);
        yield return Commands.AgenixCommands.BuildImport(context);
        yield return Commands.StoreCommands.Build(context);
        yield return Commands.ServeCommand.Build(context);
        yield return Commands.OperatorTokenCommand.Build(context);
        yield return Commands.AgentCommand.Build(context);
        yield return Commands.CompletionCommands.BuildCompletion(context);
        yield return Commands.CompletionCommands.BuildMan(context);
    }
}
