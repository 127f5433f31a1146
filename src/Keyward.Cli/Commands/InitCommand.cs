using System.CommandLine;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward init [--recipient R]…</c>: create the state directory, its age identity and the store.</summary>
internal static class InitCommand
{
    public static Command Build(CliContext context)
    {
        var recipients = new Option<string[]>("--recipient", "-r")
        {
            Description = "Extra age recipient (age1… or ssh-ed25519 …) that can also unwrap the store's data key, for recovery",
            AllowMultipleArgumentsPerToken = false,
        };
        var cmd = new Command("init", "Create the state directory: an age identity (0600) and the encrypted store") { recipients };
        cmd.SetAction(async (parse, ct) =>
        {
            var dir = context.StateDirectory(parse);
            // Under the state lock: finishes an interrupted init, and an existing state is opened (so a broken one says
            // what is wrong instead of "already initialised").
            await using var state = await StateInput.OpenOrInitAsync(context, parse, parse.GetValue(recipients) ?? [], "init", announce: false, ct).ConfigureAwait(false);
            if (!state.Created)
            {
                context.Console.Out.WriteLine($"state in {dir} is already initialised; nothing changed");
                return 0;
            }
            context.Console.Out.WriteLine($"initialised {dir}");
            context.Console.Out.WriteLine($"  identity:  {state.IdentityPath} (keep it safe; it unlocks the store)");
            context.Console.Out.WriteLine($"  recipient: {state.Recipient}");
            return 0;
        });
        return cmd;
    }
}
