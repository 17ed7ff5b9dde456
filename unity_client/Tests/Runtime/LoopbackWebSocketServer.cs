// MotionBridge tests: a minimal RFC 6455 server on loopback, scripted per test, to drive the real client.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using MotionBridge.MessagePack;

namespace MotionBridge.Tests
{
    /// <summary>
    /// Accepts WebSocket connections on 127.0.0.1 and hands each to a script running on its own thread.
    /// It speaks just enough RFC 6455 (handshake, unfragmented masked client frames, close) to play a daemon
    /// whose behaviour a test controls exactly: refusing tokens, dropping connections, closing with codes.
    /// </summary>
    public sealed class LoopbackWebSocketServer : IDisposable
    {
        private const string AcceptMagic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

        private readonly TcpListener _listener;
        private readonly Action<LoopbackConnection> _script;
        private readonly Thread _acceptThread;
        private readonly List<LoopbackConnection> _connections = new List<LoopbackConnection>();
        private volatile bool _stopping;
        private int _accepted;

        public LoopbackWebSocketServer(Action<LoopbackConnection> script)
        {
            _script = script;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "loopback-ws-accept" };
            _acceptThread.Start();
        }

        public int Port
        {
            get { return ((IPEndPoint)_listener.LocalEndpoint).Port; }
        }

        public Uri Url
        {
            get { return new Uri("ws://127.0.0.1:" + Port + "/v1"); }
        }

        public int Accepted
        {
            get { return Volatile.Read(ref _accepted); }
        }

        private void AcceptLoop()
        {
            while (!_stopping)
            {
                TcpClient client;
                try
                {
                    client = _listener.AcceptTcpClient();
                }
                catch (SocketException)
                {
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                catch (InvalidOperationException)
                {
                    // Dispose stopped the listener between the _stopping check and this accept ("not listening").
                    return;
                }
                int index = Interlocked.Increment(ref _accepted);
                var connection = new LoopbackConnection(client, index);
                lock (_connections)
                {
                    _connections.Add(connection);
                }
                var worker = new Thread(() => Serve(connection)) { IsBackground = true, Name = "loopback-ws-" + index };
                worker.Start();
            }
        }

        private void Serve(LoopbackConnection connection)
        {
            try
            {
                if (connection.Upgrade())
                {
                    _script(connection);
                }
            }
            catch (IOException)
            {
                // The client went away mid-script; the test observes that from the client side.
            }
            catch (ObjectDisposedException)
            {
            }
            finally
            {
                connection.Dispose();
            }
        }

        public void Dispose()
        {
            _stopping = true;
            _listener.Stop();
            lock (_connections)
            {
                foreach (var connection in _connections)
                {
                    connection.Dispose();
                }
            }
        }

        internal static string AcceptKey(string key)
        {
            using (var sha1 = SHA1.Create())
            {
                return Convert.ToBase64String(sha1.ComputeHash(Encoding.ASCII.GetBytes(key + AcceptMagic)));
            }
        }
    }

    /// <summary>One accepted connection, seen from the server side.</summary>
    public sealed class LoopbackConnection : IDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;

        internal LoopbackConnection(TcpClient client, int index)
        {
            _client = client;
            _stream = client.GetStream();
            _stream.ReadTimeout = 10000;
            Index = index;
            OfferedSubprotocols = new string[0];
        }

        /// <summary>1 for the first connection the server accepted, 2 for the next, ...</summary>
        public int Index { get; private set; }

        public string[] OfferedSubprotocols { get; private set; }

        /// <summary>Reads the HTTP upgrade and answers 101 choosing motionbridge.v1.msgpack if offered.</summary>
        internal bool Upgrade()
        {
            var header = new StringBuilder();
            while (!header.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                int b = _stream.ReadByte();
                if (b < 0)
                {
                    return false;
                }
                header.Append((char)b);
            }
            string key = null;
            foreach (var line in header.ToString().Split(new[] { "\r\n" }, StringSplitOptions.RemoveEmptyEntries))
            {
                int colon = line.IndexOf(':');
                if (colon < 0)
                {
                    continue;
                }
                string name = line.Substring(0, colon).Trim().ToLowerInvariant();
                string value = line.Substring(colon + 1).Trim();
                if (name == "sec-websocket-key")
                {
                    key = value;
                }
                else if (name == "sec-websocket-protocol")
                {
                    OfferedSubprotocols = value.Split(new[] { ',', ' ' }, StringSplitOptions.RemoveEmptyEntries);
                }
            }
            var response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: " + LoopbackWebSocketServer.AcceptKey(key) + "\r\n";
            if (Array.IndexOf(OfferedSubprotocols, "motionbridge.v1.msgpack") >= 0)
            {
                response += "Sec-WebSocket-Protocol: motionbridge.v1.msgpack\r\n";
            }
            var bytes = Encoding.ASCII.GetBytes(response + "\r\n");
            _stream.Write(bytes, 0, bytes.Length);
            return true;
        }

        public void Send(MessagePackMap message)
        {
            WriteFrame(0x2, MessagePackWriter.Serialize(message));
        }

        /// <summary>Sends arbitrary bytes as one binary message (to feed the client garbage).</summary>
        public void SendRaw(byte[] payload)
        {
            WriteFrame(0x2, payload);
        }

        /// <summary>The daemon side of hello / identify / ready; returns the client's identify.</summary>
        public MessagePackMap Handshake(string auth)
        {
            Send(TestMessages.Hello(auth));
            var identify = Receive();
            Send(TestMessages.Ready());
            return identify;
        }

        /// <summary>The handshake of a v1.1 daemon listing <paramref name="capabilities"/>; returns the client's identify.</summary>
        public MessagePackMap HandshakeServing(params string[] capabilities)
        {
            Send(TestMessages.HelloServing(capabilities));
            var identify = Receive();
            Send(TestMessages.Ready());
            return identify;
        }

        /// <summary>Next message from the client, decoded; null if the client closed (CloseCode then says how).</summary>
        public MessagePackMap Receive()
        {
            while (true)
            {
                int opcode;
                var payload = ReadFrame(out opcode);
                if (opcode == 0x8)
                {
                    ClientCloseCode = payload.Length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
                    return null;
                }
                if (opcode == 0x9)
                {
                    WriteFrame(0xA, payload);
                    continue;
                }
                if (opcode == 0x2)
                {
                    return (MessagePackMap)MessagePackReader.Deserialize(payload);
                }
                throw new IOException("unexpected opcode " + opcode);
            }
        }

        /// <summary>The close code the client sent, 0 while it has not closed.</summary>
        public int ClientCloseCode { get; private set; }

        public void Close(int code, string reason)
        {
            var text = Encoding.UTF8.GetBytes(reason);
            var payload = new byte[2 + text.Length];
            payload[0] = (byte)(code >> 8);
            payload[1] = (byte)code;
            Buffer.BlockCopy(text, 0, payload, 2, text.Length);
            WriteFrame(0x8, payload);
            // Give the client a moment to answer the close before the TCP connection goes.
            try
            {
                int opcode;
                ReadFrame(out opcode);
            }
            catch (IOException)
            {
            }
        }

        /// <summary>Drops the TCP connection without a close frame, like a crashed daemon.</summary>
        public void Abort()
        {
            _client.Client.Close(0);
        }

        private void WriteFrame(int opcode, byte[] payload)
        {
            var header = new List<byte> { (byte)(0x80 | opcode) };
            if (payload.Length < 126)
            {
                header.Add((byte)payload.Length);
            }
            else if (payload.Length <= ushort.MaxValue)
            {
                header.Add(126);
                header.Add((byte)(payload.Length >> 8));
                header.Add((byte)payload.Length);
            }
            else
            {
                header.Add(127);
                for (int shift = 56; shift >= 0; shift -= 8)
                {
                    header.Add((byte)((long)payload.Length >> shift));
                }
            }
            var bytes = header.ToArray();
            lock (_stream)
            {
                _stream.Write(bytes, 0, bytes.Length);
                _stream.Write(payload, 0, payload.Length);
            }
        }

        private byte[] ReadFrame(out int opcode)
        {
            var head = ReadExactly(2);
            opcode = head[0] & 0x0f;
            bool masked = (head[1] & 0x80) != 0;
            long length = head[1] & 0x7f;
            if (length == 126)
            {
                var ext = ReadExactly(2);
                length = (ext[0] << 8) | ext[1];
            }
            else if (length == 127)
            {
                var ext = ReadExactly(8);
                length = 0;
                for (int i = 0; i < 8; i++)
                {
                    length = (length << 8) | ext[i];
                }
            }
            var mask = masked ? ReadExactly(4) : null;
            var payload = ReadExactly((int)length);
            if (mask != null)
            {
                for (int i = 0; i < payload.Length; i++)
                {
                    payload[i] ^= mask[i % 4];
                }
            }
            return payload;
        }

        private byte[] ReadExactly(int count)
        {
            var buffer = new byte[count];
            int read = 0;
            while (read < count)
            {
                int n = _stream.Read(buffer, read, count - read);
                if (n <= 0)
                {
                    throw new IOException("connection closed");
                }
                read += n;
            }
            return buffer;
        }

        public void Dispose()
        {
            _client.Close();
        }
    }
}
