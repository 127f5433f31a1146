using Keyward.Core.Manifest;

namespace Keyward.Engine.Delivery;

/// <summary>The names <see cref="Sink.CredentialNames"/> lists, in its order (entries' credentials, literal entries
/// skipped, then a nix-conf sink's trusted keys), but repeats included and nothing allocated: for the per-sink loops of a
/// plan over thousands of sinks, where the distinct list cost more than the lookups it feeds. A caller that needs each
/// name once skips the repeats itself (the first occurrence is where the distinct list has it).</summary>
internal readonly struct SinkCredentialNames(Sink sink)
{
    public Enumerator GetEnumerator() => new(sink);

    public struct Enumerator(Sink sink)
    {
        private int _entry = -1;
        private int _key = -1;

        public string Current { get; private set; } = "";

        public bool MoveNext()
        {
            var entries = sink.Entries;
            while (++_entry < entries.Count)
            {
                var e = entries[_entry];
                if (e.IsLiteral) continue;
                Current = e.Credential;
                return true;
            }
            _entry = entries.Count;
            if (sink.NixConf is not { } nix || ++_key >= nix.TrustedPublicKeys.Count) return false;
            Current = nix.TrustedPublicKeys[_key];
            return true;
        }
    }
}
