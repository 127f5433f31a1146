using System.Buffers.Binary;
using System.Text;

namespace Keyward.Cli.Tests.Packaging;

/// <summary>The native binary test.sh builds is the fast-starting image docs/design.md describes ("Start-up: a
/// position-dependent image"): linked at a fixed address (ELF type EXEC, not a PIE's DYN) and not dehydrated (no
/// <c>.hydrated</c> section for the runtime to fill at every start). Either one undone costs ~40 ms of every command,
/// which no functional test would notice. Read from the ELF headers themselves (ELF-64, little-endian).</summary>
public sealed class NativeImageTests
{
    private const ushort EtExec = 2, EtDyn = 3;

    internal sealed record ElfImage(ushort Type, IReadOnlyList<string> Sections);

    internal static ElfImage ReadElf(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.AsSpan(0, 4).SequenceEqual("\u007fELF"u8), $"{path}: not an ELF file");
        Assert.True(bytes[4] == 2 && bytes[5] == 1, $"{path}: not a little-endian ELF-64 file");
        var type = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x10));
        var shoff = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x28)));
        var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3A));
        var shnum = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3C));
        var shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3E));
        Span<byte> Header(int i) => bytes.AsSpan(shoff + i * shentsize, shentsize);
        var strings = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(Header(shstrndx)[0x18..]));
        var names = new List<string>(shnum);
        for (var i = 0; i < shnum; i++)
        {
            var at = strings + (int)BinaryPrimitives.ReadUInt32LittleEndian(Header(i));
            var end = Array.IndexOf(bytes, (byte)0, at);
            names.Add(Encoding.ASCII.GetString(bytes, at, end - at));
        }
        return new ElfImage(type, names);
    }

    private static string NativeBinary()
    {
        var native = KeywardProcess.Native;
        Assert.SkipWhen(native is null, $"{KeywardProcess.Variable} is not set: no native binary to read (test.sh builds one)");
        Assert.SkipWhen(File.Exists(Path.Combine(Path.GetDirectoryName(native)!, "keyward.dll")),
            "the binary is the ReadyToRun fallback (no C compiler to link the native one)");
        return native!;
    }

    [Fact]
    public void TheTestedBinary_IsLinkedAtAFixedAddress_AndNotDehydrated()
    {
        var elf = ReadElf(NativeBinary());
        Assert.True(elf.Type == EtExec, $"ELF type {elf.Type}: expected {EtExec} (EXEC, -no-pie); {EtDyn} is a PIE, relocated at every start");
        Assert.Contains("__managedcode", elf.Sections);
        Assert.DoesNotContain(".hydrated", elf.Sections);
    }

    [Fact]
    public void TheElfReader_TellsAPieFromAFixedImage()
    {
        // The reader itself, on binaries of this machine: a Debian executable is a PIE (DYN), this test host is too.
        var pie = ReadElf("/bin/sh");
        Assert.Equal(EtDyn, pie.Type);
        Assert.Contains(".text", pie.Sections);
        Assert.DoesNotContain("__managedcode", pie.Sections);
    }
}
