using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Agent;

public sealed class HostManifestTests
{
    private const string KeyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsCyxd30V4V79+Eabrhe6xoLVHQcMm61Yb1xrwCeUem root@r1";
    private const string KeyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINyjAiU/kxduccuSaoyCcgo9KBDjB7RzOvx17K6fcqFl";
    private const string Age = "age1cw43nx3f3g9gqp4lgant8jm4cfzkla0fa2x7ce7h6v04p46shslsvu3ukx";

    private static ManifestLoadResult Parse(string yaml) => ManifestLoader.Parse(yaml.ReplaceLineEndings("\n"), "keyward.yaml");

    private static string Manifest(string hosts, string sinkExtra) => $"""
        apiVersion: keyward/v1
        hosts:
        {hosts}
        credentials:
          tok: {"{"} kind: secret, owner: o, purpose: p {"}"}
        sinks:
          here: {"{"} format: raw, path: /run/k/here, credential: tok {"}"}
          there:
            format: raw
            path: /run/k/tok
            credential: tok
        {sinkExtra}
        """;

    [Fact]
    public void HostsAndHostSinks_Load_AndStayOutOfTheAuthoritysSinks()
    {
        var r = Parse(Manifest($"  runner-1: {{ sshKey: \"{KeyA}\" }}\n  deploy: {{ ageRecipient: {Age} }}", "    hosts: [runner-1, deploy]"));
        Assert.False(r.HasErrors, string.Join("\n", r.Errors));
        var m = r.Manifest!;
        Assert.Equal(["runner-1", "deploy"], m.Hosts.Select(h => h.Name));
        Assert.Equal(KeyA[..^8], m.Hosts[0].SshKey!.ToString()); // canonical: the comment is dropped
        Assert.Equal(Age, m.Hosts[1].AgeRecipient);
        // The same path on the authority and on the hosts is no collision: they are different machines.
        Assert.Equal(["here"], m.Sinks.Select(s => s.Name));
        Assert.Equal(["there"], m.HostSinks.Select(s => s.Name));
        Assert.Null(m.FindSink("there"));
        Assert.Equal(["there"], m.SinksOfHost("deploy").Select(s => s.Name));
        Assert.Equal(["runner-1", "deploy"], m.HostSinks[0].Hosts);
    }

    [Theory]
    [InlineData("  runner-1: { sshKey: \"ssh-ed25519 AAAA\" }", "    host: runner-1", "KW1302", 3, 23)]
    [InlineData("  runner-1: { sshKey: \"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC4\" }", "    host: runner-1", "KW1302", 3, 23)]
    [InlineData("  runner-1: { ageRecipient: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINyjAiU/kxduccuSaoyCcgo9KBDjB7RzOvx17K6fcqFl\" }", "    host: runner-1", "KW1302", 3, 29)]
    [InlineData("  runner-1: { sshKey: \"" + KeyA + "\", ageRecipient: " + Age + " }", "    host: runner-1", "KW0117", 3, 0)]
    [InlineData("  runner-1: {}", "    host: runner-1", "KW0117", 3, 0)]
    [InlineData("  runner-1: { sshKey: \"" + KeyA + "\" }\n  runner-2: { sshKey: \"" + KeyA + "\" }", "    host: runner-1", "KW1303", 4, 23)]
    [InlineData("  runner-1: { sshKey: \"" + KeyA + "\" }", "    host: runner-9", "KW1301", 12, 11)]
    [InlineData("  runner-1: { sshKey: \"" + KeyA + "\" }", "    host: runner-1\n    hosts: [runner-1]", "KW1304", 13, 5)]
    [InlineData("  runner-1: { sshKey: \"" + KeyA + "\" }", "    hosts: []", "KW1304", 12, 12)]
    [InlineData("  runner-1: { sshKey: \"" + KeyA + "\" }", "    hosts: [runner-1, runner-1]", "KW1304", 12, 23)]
    public void BadHosts_AreReportedWithCodeAndPosition(string hosts, string sinkExtra, string code, int line, int column)
    {
        var r = Parse(Manifest(hosts, sinkExtra));
        Assert.True(r.HasErrors);
        var e = Assert.Single(r.Errors);
        Assert.Equal(code, e.Code.Code);
        Assert.Equal(line, e.Location!.Line);
        if (column > 0) Assert.Equal(column, e.Location.Column);
    }

    [Fact]
    public void UnknownHost_SuggestsTheClosestDeclaredName()
    {
        var r = Parse(Manifest($"  runner-1: {{ sshKey: \"{KeyA}\" }}", "    host: runner-l"));
        var e = Assert.Single(r.Errors);
        Assert.Equal(ErrorCodes.HostUnknown, e.Code);
        Assert.Contains("did you mean 'runner-1'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoSinksOnOneHost_WithOnePath_Collide_ButNotAcrossHosts()
    {
        var yaml = $"""
            apiVersion: keyward/v1
            hosts:
              a: {"{"} sshKey: "{KeyA}" {"}"}
              b: {"{"} sshKey: "{KeyB}" {"}"}
            credentials:
              tok: {"{"} kind: secret, owner: o, purpose: p {"}"}
            sinks:
              one: {"{"} format: raw, path: /run/k/tok, credential: tok, host: a {"}"}
              two: {"{"} format: raw, path: /run/k/tok, credential: tok, host: b {"}"}
              three: {"{"} format: raw, path: /run/k/tok, credential: tok, hosts: [b] {"}"}
            """;
        var e = Assert.Single(Parse(yaml).Errors);
        Assert.Equal(ErrorCodes.ManifestDuplicatePath, e.Code);
        Assert.Contains("'three'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LiveKubernetesSecret_CannotGoToAHost()
    {
        var yaml = $"""
            apiVersion: keyward/v1
            hosts:
              a: {"{"} sshKey: "{KeyA}" {"}"}
            credentials:
              tok: {"{"} kind: secret, owner: o, purpose: p {"}"}
            sinks:
              k: {"{"} format: kubernetes-secret, path: /run/k/s.yaml, entries: {"{"} t: tok {"}"}, live: true, host: a {"}"}
            """;
        Assert.Equal(ErrorCodes.HostSinkNotDeliverable, Assert.Single(Parse(yaml).Errors).Code);
    }

    [Fact]
    public void Graph_NamesTheHostsOfAHostSink_AndLeavesItsHooksToTheAgent()
    {
        var r = Parse(Manifest($"  runner-1: {{ sshKey: \"{KeyA}\" }}", "    host: runner-1\n    onChange: { restart: nix-daemon.service }"));
        var graph = GraphBuilder.Build(r.Manifest!);
        var node = graph.Find(NodeKind.Sink, "there")!;
        Assert.EndsWith("on host runner-1", node.Detail, StringComparison.Ordinal);
        Assert.Null(graph.Find(NodeKind.Hook, "restart nix-daemon.service"));
    }
}
