using System.CommandLine;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Crypto.Age;
using Keyward.Sinks.Files;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward encrypt</c>, <c>keyward decrypt</c> and <c>keyward keygen</c>: the age file format with the
/// age CLI's own flags, so scripts can swap one for the other. See docs/age.md.
/// </summary>
internal static class AgeCommands
{
    public static Command BuildEncrypt(CliContext context)
    {
        var recipients = new Option<string[]>("--recipient", "-r") { Description = "Encrypt to this recipient (age1… or an 'ssh-ed25519 AAAA…' line); repeatable", Arity = ArgumentArity.ZeroOrMore };
        var recipientFiles = new Option<string[]>("--recipients-file", "-R") { Description = "Encrypt to the recipients listed in FILE, one per line ('#' comments); repeatable", Arity = ArgumentArity.ZeroOrMore };
        var armor = new Option<bool>("--armor", "-a") { Description = "Write PEM-armored text instead of binary" };
        var output = new Option<string?>("--output", "-o") { Description = "Write to FILE (atomically, mode 0600) instead of stdout" };
        var input = new Argument<string?>("input") { Description = "File to encrypt (default: stdin)", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("encrypt", "Encrypt a file to age recipients (like age -e)") { recipients, recipientFiles, armor, output, input };
        cmd.SetAction(parse =>
        {
            var list = new List<IAgeRecipient>();
            foreach (var r in parse.GetValue(recipients) ?? []) list.Add(AgeKeys.ParseRecipient(r));
            foreach (var f in parse.GetValue(recipientFiles) ?? [])
            {
                var path = context.Console.ResolvePath(f);
                try
                {
                    list.AddRange(AgeKeys.ParseRecipientsFile(ReadText(path)));
                }
                catch (KeywardException ex) when (ex.First.Code != ErrorCodes.FileNotFound && ex.First.Code != ErrorCodes.FileUnreadable)
                {
                    throw ex.First.Code.Exception($"{f}: {ex.First.Message}", ex.First.Hint);
                }
            }
            if (list.Count == 0) throw ErrorCodes.AgeNoRecipients.Exception("no recipients given");
            var armored = parse.GetValue(armor);
            var outFile = parse.GetValue(output);
            if (outFile is null && !armored && context.Console.OutIsTerminal)
                throw ErrorCodes.Usage.Exception("refusing to write binary ciphertext to a terminal", "pass -a for armored text, -o FILE, or redirect stdout");
            using var source = OpenInput(context, parse.GetValue(input));
            PhaseTimings.Mark("encrypt: recipients, input");
            WriteOutput(context, outFile, target =>
            {
                AgeFile.Encrypt(source, target, list, armored);
                PhaseTimings.Mark("encrypt: written");
            });
            PhaseTimings.Mark(outFile is null || outFile == "-" ? "encrypt: flushed" : "encrypt: fsync, rename");
            return 0;
        });
        return cmd;
    }

    public static Command BuildDecrypt(CliContext context)
    {
        var identities = new Option<string[]>("--identity", "-i") { Description = "Identity file: AGE-SECRET-KEY-1… lines or an OpenSSH ed25519 private key; repeatable", Arity = ArgumentArity.OneOrMore, Required = true };
        var output = new Option<string?>("--output", "-o") { Description = "Write to FILE (atomically, mode 0600; nothing is left on failure) instead of stdout" };
        var input = new Argument<string?>("input") { Description = "File to decrypt, binary or armored (default: stdin)", Arity = ArgumentArity.ZeroOrOne };
        var reveal = new Option<bool>("--reveal") { Description = "Allow printing the plaintext to a terminal" };
        var cmd = new Command("decrypt", "Decrypt an age file (like age -d)") { identities, output, reveal, input };
        cmd.SetAction(parse =>
        {
            RefuseTerminal(context, parse.GetValue(output), parse.GetValue(reveal), "the decrypted plaintext");
            var list = new List<IAgeIdentity>();
            foreach (var f in parse.GetValue(identities) ?? [])
            {
                var path = context.Console.ResolvePath(f);
                try
                {
                    list.AddRange(AgeKeys.ParseIdentities(ReadText(path)));
                }
                catch (KeywardException ex) when (ex.First.Code != ErrorCodes.FileNotFound && ex.First.Code != ErrorCodes.FileUnreadable)
                {
                    throw ex.First.Code.Exception($"{f}: {ex.First.Message}", ex.First.Hint);
                }
            }
            using var source = OpenInput(context, parse.GetValue(input));
            PhaseTimings.Mark("decrypt: identities, input");
            var outFile = parse.GetValue(output);
            WriteOutput(context, outFile, target =>
            {
                AgeFile.Decrypt(source, target, list);
                PhaseTimings.Mark("decrypt: written");
            });
            PhaseTimings.Mark(outFile is null || outFile == "-" ? "decrypt: flushed" : "decrypt: fsync, rename");
            return 0;
        });
        return cmd;
    }

    public static Command BuildKeygen(CliContext context)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write the identity to this new file (mode 0600) and print the public key to stderr" };
        var reveal = new Option<bool>("--reveal") { Description = "Allow printing the identity (a secret key) to a terminal" };
        var cmd = new Command("keygen", "Generate an X25519 age identity (like age-keygen)") { output, reveal };
        cmd.SetAction(parse =>
        {
            RefuseTerminal(context, parse.GetValue(output), parse.GetValue(reveal), "a secret key");
            var identity = X25519Identity.Generate();
            using var secret = identity.ToSecret();
            var created = context.Time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            var text = $"# created: {created}\n# public key: {identity.Recipient}\n{secret.RevealString()}\n";
            var outFile = parse.GetValue(output);
            if (outFile is null)
            {
                context.Console.Out.Write(text);
                context.Console.Out.Flush();
                return 0;
            }
            var path = context.Console.ResolvePath(outFile);
            if (File.Exists(path))
                throw ErrorCodes.InvalidArgument.Exception($"{outFile} already exists; refusing to overwrite an identity", "choose a new file name or remove the old file first");
            WriteAtomically(path, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text)));
            context.Console.Err.WriteLine($"Public key: {identity.Recipient}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Like <c>keyward get</c>: a secret goes to a file (-o) or a pipe, to a terminal only with --reveal.</summary>
    private static void RefuseTerminal(CliContext context, string? outFile, bool reveal, string what)
    {
        if (outFile is null && !reveal && context.Console.OutIsTerminal)
            throw ErrorCodes.RefuseTerminal.Exception($"refusing to print {what} to a terminal", "pass -o FILE, pipe the output, or pass --reveal");
    }

    // Identity and recipient files: regular files up to 1 MiB (a FIFO or /dev/zero is KW0010, not a hang).
    private static string ReadText(string path) => InputFiles.ReadText(path);

    private static Stream OpenInput(CliContext context, string? input)
    {
        if (input is null || input == "-") return new NonClosingStream(context.Console.StdIn);
        var path = context.Console.ResolvePath(input);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw ErrorCodes.FileNotFound.Exception($"{input} not found");
        }
        catch (UnauthorizedAccessException)
        {
            throw ErrorCodes.FileUnreadable.Exception($"{input} cannot be read");
        }
    }

    private static void WriteOutput(CliContext context, string? outFile, Action<Stream> write)
    {
        if (outFile is null || outFile == "-")
        {
            context.Console.Out.Flush();
            write(context.Console.StdOut);
            context.Console.StdOut.Flush();
            return;
        }
        WriteAtomically(context.Console.ResolvePath(outFile), write);
    }

    /// <summary>Through the one atomic writer: a 0600 temporary file in the target's directory, fsync, rename,
    /// directory fsync; the temporary file is removed on any failure.</summary>
    private static void WriteAtomically(string path, Action<Stream> write)
    {
        try
        {
            AtomicFile.Write(Path.GetFullPath(path), write, mode: 0x180);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw ErrorCodes.IoFailure.Exception($"cannot write {path}: {IoErrorText.Describe(ex)}");
        }
    }

    /// <summary>Keeps the process's stdin open when the command disposes its input.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
