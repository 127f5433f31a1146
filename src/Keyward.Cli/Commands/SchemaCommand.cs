using System.CommandLine;
using Keyward.Core.Manifest;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward schema</c>: the JSON Schema of keyward.yaml (docs/keyward.schema.json is its committed output),
/// for editors: <c># yaml-language-server: $schema=…/keyward.schema.json</c>.</summary>
internal static class SchemaCommand
{
    public static Command Build(CliContext context)
    {
        var cmd = new Command("schema", "Print the JSON Schema (draft 2020-12) of the manifest, keyward.yaml");
        cmd.SetAction(_ =>
        {
            context.Console.Out.Write(ManifestSchema.ToJson());
            return 0;
        });
        return cmd;
    }
}
