using System.CommandLine;

namespace Keyward.Cli.Commands;

/// <summary>Subcommands of <c>keyward plan</c> (rotate, exposed) contributed by the rotation feature.</summary>
internal static partial class PlanSubcommands
{
    public static IEnumerable<Command> Build(CliContext context)
    {
        return PlanRotateCommand.Build(context);
    }
}
