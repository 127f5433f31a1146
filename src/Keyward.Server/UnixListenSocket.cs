using System.Net.Sockets;
using Keyward.Core.Errors;
using Keyward.Sinks.Files;

namespace Keyward.Server;

/// <summary>
/// A <c>--listen unix:PATH</c> socket, bound by Keyward before Kestrel sees it: a stale socket left by a killed serve is
/// replaced (one nobody accepts connections on, never a symlink, a file or a directory), the mode is set while the
/// socket is bound but not yet listening (so no client connects under the umask's mode), and the file is removed on
/// shutdown if it is still this socket's. Kestrel listens on the descriptor (<c>ListenHandle</c>) and does not own it.
/// </summary>
internal sealed class UnixListenSocket : IDisposable
{
    private readonly Socket _socket;
    private readonly string _path;
    private readonly FileStatus _bound;

    private UnixListenSocket(Socket socket, string path, FileStatus bound)
    {
        _socket = socket;
        _path = path;
        _bound = bound;
    }

    /// <summary>The descriptor Kestrel listens on.</summary>
    public ulong Handle => (ulong)_socket.SafeHandle.DangerousGetHandle();

    public static UnixListenSocket Bind(ListenAddress address, UnixFileMode mode)
    {
        var path = address.SocketPath ?? throw new ArgumentException("not a Unix socket address", nameof(address));
        var directory = Path.GetDirectoryName(path)!;
        var parent = Stat(directory, address);
        if (parent is null || !parent.IsDirectory)
            throw ErrorCodes.ListenSocketUnusable.Exception($"--listen {address}: the directory {directory} does not exist");
        RemoveStale(path, address);

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            // connect(2) needs write permission on the socket file: the mode is the access control. Set before listen(2),
            // a client that races us is refused (ECONNREFUSED), never let in under the umask's mode.
            File.SetUnixFileMode(path, mode);
            var bound = Stat(path, address) ?? throw ErrorCodes.ListenSocketUnusable.Exception($"--listen {address}: the socket vanished after bind");
            return new UnixListenSocket(socket, path, bound);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw ErrorCodes.ListenSocketUnusable.Exception($"--listen {address}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            socket.Dispose();
            throw ErrorCodes.ListenSocketUnusable.Exception($"--listen {address}: {IoErrorText.Describe(e)}");
        }
    }

    /// <summary>Removes a socket left by a serve that did not shut down cleanly. Anything else at the path is refused:
    /// a symlink (it might point anywhere), a file or a directory (not ours to delete), or a socket a process still
    /// accepts on (another serve).</summary>
    private static void RemoveStale(string path, ListenAddress address)
    {
        var existing = Stat(path, address);
        if (existing is null) return;
        if (!existing.IsSocket)
        {
            var what = existing.IsSymlink ? "a symbolic link" : existing.IsDirectory ? "a directory" : existing.IsRegular ? "a regular file" : "not a socket";
            throw ErrorCodes.ListenSocketOccupied.Exception($"--listen {address}: {path} is {what}");
        }
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw ErrorCodes.ListenSocketOccupied.Exception($"--listen {address}: a process is accepting connections on {path}");
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Nobody listens: the socket of a serve that was killed.
            }
            catch (SocketException e)
            {
                throw ErrorCodes.ListenSocketUnusable.Exception($"--listen {address}: cannot tell whether {path} is in use: {e.Message}");
            }
        }
        try
        {
            // unlink(2) removes the name itself, never what a link points at.
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ErrorCodes.ListenSocketUnusable.Exception($"--listen {address}: cannot remove the stale socket: {IoErrorText.Describe(e)}");
        }
    }

    private static FileStatus? Stat(string path, ListenAddress address)
    {
        try
        {
            return FileStatus.Lstat(path);
        }
        catch (IOException e)
        {
            throw ErrorCodes.ListenSocketUnusable.Exception($"--listen {address}: {IoErrorText.Describe(e)}");
        }
    }

    /// <summary>Closes the socket and removes its file, if the path still names this socket (a newer serve may have
    /// replaced it).</summary>
    public void Dispose()
    {
        bool ours;
        try
        {
            ours = FileStatus.Lstat(_path) is { IsSocket: true } now && now.Inode == _bound.Inode && now.Device == _bound.Device;
        }
        catch (IOException)
        {
            ours = false;
        }
        // Socket.Dispose unlinks the path the socket was bound to: right while the path is ours. When it names another
        // socket now (a newer serve replaced ours), only close the descriptor.
        if (ours) _socket.Dispose();
        else _socket.SafeHandle.Dispose();
    }
}

/// <summary>The Unix sockets of one host, in <c>--listen</c> order; disposed with the host's container.</summary>
internal sealed class UnixListenSockets : IDisposable
{
    private readonly List<UnixListenSocket> _sockets = [];

    public UnixListenSocket this[int index] => _sockets[index];

    public void Add(UnixListenSocket socket) => _sockets.Add(socket);

    public void Dispose()
    {
        foreach (var socket in _sockets) socket.Dispose();
        _sockets.Clear();
    }
}
