// MotionBridge for Unity: the WebSocket connection to the daemon (handshake, requests, reconnects).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;
using MotionBridge.MessagePack;
using MotionBridge.Motion;
using MotionBridge.Protocol;

namespace MotionBridge.Client
{
    /// <summary>
    /// One connection to a MotionBridge daemon over System.Net.WebSockets.ClientWebSocket with the
    /// `motionbridge.v1.msgpack` subprotocol. Runs entirely on background tasks: it connects, does the
    /// hello / identify / ready handshake, receives, and reconnects with backoff. Motion chunks go straight
    /// into <see cref="Frames"/>; everything else is queued as <see cref="ClientEvent"/>s that the owner
    /// drains on its own thread (<see cref="TryDequeue"/>), e.g. in Unity's EditorApplication.update.
    /// Requests are fire-and-forget: methods return the request id at once, replies arrive as events.
    /// </summary>
    public sealed class MotionBridgeClient : IDisposable
    {
        /// <summary>`code` of locally made errors for requests lost with the connection.</summary>
        public const string ConnectionLostCode = "connection_lost";

        /// <summary>`code` of locally made errors for a reply this client could not understand.</summary>
        public const string BadReplyCode = "bad_reply";

        /// <summary>`code` of locally made errors for an exception thrown by a <see cref="LiveSession.FramesReceived"/> handler.</summary>
        public const string HandlerFailedCode = "handler_failed";

        /// <summary>Seconds of a live stream a <see cref="LiveSession"/> keeps by default (for playback and recording).</summary>
        public const double DefaultLiveHistorySeconds = 60;

        private enum RequestKind
        {
            Generate,
            Fetch,
            Status,
            Live,
        }

        private sealed class PendingRequest
        {
            public RequestKind Kind;
            public string Job;
            public string Target;
        }

        private readonly MotionBridgeClientOptions _options;
        private readonly ConcurrentQueue<ClientEvent> _events = new ConcurrentQueue<ClientEvent>();
        private readonly Dictionary<string, PendingRequest> _pending = new Dictionary<string, PendingRequest>();
        private readonly object _lock = new object();
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly Random _jitter;
        private readonly string _idPrefix;
        private readonly MotionFrameBuffer _frames = new MotionFrameBuffer();
        private readonly Dictionary<string, LiveSession> _live = new Dictionary<string, LiveSession>();

        /// <summary>How long a close waits for its close frame to leave before it stops the connection anyway.</summary>
        private static readonly TimeSpan CloseFrameWait = TimeSpan.FromMilliseconds(500);

        private ClientWebSocket _socket;
        private Task _run;
        private Task _closing;
        private Task _sendTail = Task.FromResult(0);
        private long _nextId;
        private volatile int _state = (int)ConnectionState.Disconnected;
        private volatile HelloMessage _hello;
        private int _attempt;
        private long _nextAttemptTicks;
        private long _connections;

        public MotionBridgeClient(MotionBridgeClientOptions options)
        {
            if (options == null || options.Url == null)
            {
                throw new ArgumentException("options.Url is required");
            }
            if (options.Url.Scheme != "ws" && options.Url.Scheme != "wss")
            {
                throw new ArgumentException("the server URL must start with ws:// or wss://, e.g. " + ProtocolConstants.DefaultUrl);
            }
            _options = options;
            _jitter = options.JitterSeed.HasValue ? new Random(options.JitterSeed.Value) : new Random();
            _idPrefix = string.IsNullOrEmpty(options.RequestIdPrefix)
                ? "u" + Guid.NewGuid().ToString("N").Substring(0, 6) + "-"
                : options.RequestIdPrefix;
        }

        public ConnectionState State
        {
            get { return (ConnectionState)_state; }
        }

        /// <summary>The daemon's last hello (model, skeleton, limits); null before the first handshake.</summary>
        public HelloMessage Hello
        {
            get { return _hello; }
        }

        public MotionFrameBuffer Frames
        {
            get { return _frames; }
        }

        /// <summary>Failed attempts since the last successful handshake.</summary>
        public int Attempt
        {
            get { return Volatile.Read(ref _attempt); }
        }

        /// <summary>Completed handshakes so far (a reconnect makes it 2, 3, ...).</summary>
        public long Connections
        {
            get { return Interlocked.Read(ref _connections); }
        }

        /// <summary>When the next reconnection attempt starts (UTC); null unless <see cref="State"/> is Reconnecting.</summary>
        public DateTime? NextAttemptUtc
        {
            get
            {
                long ticks = Interlocked.Read(ref _nextAttemptTicks);
                return ticks == 0 ? (DateTime?)null : new DateTime(ticks, DateTimeKind.Utc);
            }
        }

        /// <summary>Starts connecting in the background; returns at once.</summary>
        public void Start()
        {
            lock (_lock)
            {
                if (_run != null)
                {
                    throw new InvalidOperationException("the client was already started; make a new one to reconnect by hand");
                }
                _run = Task.Run(() => RunAsync(_stop.Token));
            }
        }

        public bool TryDequeue(out ClientEvent clientEvent)
        {
            return _events.TryDequeue(out clientEvent);
        }

        /// <summary>Sends `generate`; returns its request id. Throws if not connected or the request breaks a limit.</summary>
        public string Generate(GenerateRequest request)
        {
            var hello = HelloAllowing(request, limits => request.Validate(limits));
            if (hello != null)
            {
                foreach (var capability in request.RequiredCapabilities())
                {
                    if (!hello.Serves(capability))
                    {
                        throw new ArgumentException("this daemon does not serve \"" + capability
                            + "\" (not in its capabilities): update motionbridge or leave those fields out");
                    }
                }
            }
            string id = NextRequestId();
            Track(id, new PendingRequest { Kind = RequestKind.Generate, Target = request.Target });
            Send(request.ToMap(id), id);
            return id;
        }

        /// <summary>
        /// Sends `live_start` (the daemon must list capability "live") and returns the session at once; its frames
        /// arrive in <see cref="LiveSession.Frames"/>, its end as the `done` or `error` event for its id. The ring keeps
        /// <paramref name="historySeconds"/> of frames. A second session on one connection ends with `error` `busy`.
        /// </summary>
        public LiveSession StartLive(LiveRequest request, double historySeconds = DefaultLiveHistorySeconds)
        {
            var hello = HelloAllowing(request, limits => request.Validate(limits));
            if (hello != null && !hello.Serves(Capabilities.Live))
            {
                throw new InvalidOperationException("this daemon does not serve live mode (no \"live\" in its capabilities): update motionbridge");
            }
            int fps = hello == null ? 30 : hello.Model.Fps;
            int historyFrames = Math.Max(1, (int)Math.Ceiling(historySeconds * fps));
            string id = NextRequestId();
            var session = new LiveSession(this, id, request, historyFrames);
            Track(id, new PendingRequest { Kind = RequestKind.Live, Target = request.Target });
            lock (_lock)
            {
                _live[id] = session;
            }
            Send(request.ToMap(id), id);
            return session;
        }

        /// <summary>
        /// The hello to check <paramref name="request"/>'s capabilities against (null before the first handshake),
        /// read once so both checks see the same daemon; throws if the request is null or breaks one of its limits.
        /// </summary>
        private HelloMessage HelloAllowing(object request, Func<ServerLimits, string> validate)
        {
            if (request == null)
            {
                throw new ArgumentNullException("request");
            }
            var hello = _hello;
            var problem = validate(hello == null ? null : hello.Limits);
            if (problem != null)
            {
                throw new ArgumentException(problem);
            }
            return hello;
        }

        /// <summary>The running live session of a request id, null if none.</summary>
        public LiveSession LiveSessionOf(string requestId)
        {
            lock (_lock)
            {
                LiveSession session;
                return _live.TryGetValue(requestId, out session) ? session : null;
            }
        }

        /// <summary>Sends a live_prompt or live_stop; not tracked on its own, since the replies carry the session's id.</summary>
        internal void SendLive(MessagePackMap message)
        {
            RequireReady();
            Send(message, null);
        }

        /// <summary>Asks the daemon to cancel a generate; it will end with an `error` `cancelled`.</summary>
        public void Cancel(string requestId)
        {
            if (string.IsNullOrEmpty(requestId))
            {
                throw new ArgumentException("requestId is empty");
            }
            RequireReady();
            Send(ClientMessages.Cancel(requestId), null);
        }

        /// <summary>Re-downloads a finished job's final motion (e.g. after a domain reload); returns the request id.</summary>
        public string Fetch(string job, string target)
        {
            if (string.IsNullOrEmpty(job))
            {
                throw new ArgumentException("job is empty");
            }
            string id = NextRequestId();
            Track(id, new PendingRequest { Kind = RequestKind.Fetch, Job = job, Target = target });
            Send(ClientMessages.Fetch(id, job, target), id);
            return id;
        }

        public string RequestStatus()
        {
            string id = NextRequestId();
            Track(id, new PendingRequest { Kind = RequestKind.Status });
            Send(ClientMessages.Status(id), id);
            return id;
        }

        /// <summary>The job id the daemon gave a request (from `accepted`), null if not known yet.</summary>
        public string JobOf(string requestId)
        {
            lock (_lock)
            {
                PendingRequest pending;
                return _pending.TryGetValue(requestId, out pending) ? pending.Job : null;
            }
        }

        public bool IsPending(string requestId)
        {
            lock (_lock)
            {
                return _pending.ContainsKey(requestId);
            }
        }

        /// <summary>
        /// Starts closing the connection (1000, or 1001 when <paramref name="goingAway"/>) and stops reconnecting;
        /// returns at once. The task completes when the background loop has ended, which can take a while: Mono's
        /// ClientWebSocket ignores cancellation while it waits for the daemon's HTTP upgrade answer.
        /// </summary>
        public Task CloseAsync(bool goingAway)
        {
            lock (_lock)
            {
                if (_closing != null)
                {
                    return _closing;
                }
                var run = _run ?? Task.FromResult(0);
                // Cancelling a pending receive aborts a ClientWebSocket, and the close frame with it: let the
                // frame leave first, but never wait long for it.
                var closeFrame = SendCloseFrame(_socket, goingAway);
                _closing = Task.WhenAny(closeFrame, Task.Delay(CloseFrameWait))
                    .ContinueWith(sent =>
                    {
                        _stop.Cancel();
                        return run;
                    }, TaskScheduler.Default)
                    .Unwrap();
                return _closing;
            }
        }

        /// <summary>
        /// Closes as <see cref="CloseAsync"/> does and waits at most <paramref name="wait"/> in all for the
        /// background loop to end (e.g. so the 1001 of a domain reload leaves before the domain unloads).
        /// </summary>
        public void Close(bool goingAway, TimeSpan wait)
        {
            try
            {
                CloseAsync(goingAway).Wait(wait);
            }
            catch (AggregateException)
            {
                // RunAsync reports its own failures as events; nothing more to say here.
            }
        }

        /// <summary>Closes and waits at most a second in all; on the editor's main thread use <see cref="CloseAsync"/>.</summary>
        public void Dispose()
        {
            Close(false, TimeSpan.FromSeconds(1));
        }

        private static Task SendCloseFrame(ClientWebSocket socket, bool goingAway)
        {
            if (socket == null || socket.State != WebSocketState.Open)
            {
                return Task.FromResult(0);
            }
            try
            {
                var status = goingAway ? WebSocketCloseStatus.EndpointUnavailable : WebSocketCloseStatus.NormalClosure;
                var sending = socket.CloseOutputAsync(status, goingAway ? "editor reloading" : "client closing", CancellationToken.None);
                // Observed, so a failed close frame is not reported later as an unobserved task exception.
                sending.ContinueWith(failed => failed.Exception, TaskContinuationOptions.OnlyOnFaulted);
                return sending;
            }
            catch (Exception)
            {
                // The socket is already failing (or mid-send); stopping the loop ends it either way.
                return Task.FromResult(0);
            }
        }

        private string NextRequestId()
        {
            return _idPrefix + Interlocked.Increment(ref _nextId);
        }

        private void Track(string id, PendingRequest pending)
        {
            RequireReady();
            lock (_lock)
            {
                _pending[id] = pending;
            }
        }

        private void RequireReady()
        {
            if (State != ConnectionState.Ready)
            {
                throw new InvalidOperationException("not connected to the MotionBridge daemon (" + State + ")");
            }
        }

        private void Send(MessagePackMap message, string requestId)
        {
            var bytes = ProtocolCodec.Encode(message);
            ClientWebSocket socket;
            lock (_lock)
            {
                socket = _socket;
                // Chained so messages leave in call order (a cancel never overtakes its generate) and
                // ClientWebSocket never sees two sends at once.
                _sendTail = _sendTail.ContinueWith(
                    previous => SendNowAsync(socket, bytes, requestId), TaskScheduler.Default).Unwrap();
            }
        }

        private async Task SendNowAsync(ClientWebSocket socket, byte[] bytes, string requestId)
        {
            try
            {
                await socket.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Binary, true, _stop.Token)
                    .ConfigureAwait(false);
            }
            catch (Exception error)
            {
                if (requestId != null && Forget(requestId))
                {
                    Report(new ErrorMessage(requestId, ConnectionLostCode, "could not send the request: " + error.Message));
                }
            }
        }

        private bool Forget(string requestId)
        {
            lock (_lock)
            {
                return _pending.Remove(requestId);
            }
        }

        private void Report(ServerMessage message)
        {
            if ((message is DoneMessage || message is ErrorMessage) && message.Id != null)
            {
                // Every way a live session ends passes here: its done, the daemon's error, a lost connection.
                LiveSession session = null;
                lock (_lock)
                {
                    if (_live.TryGetValue(message.Id, out session) && EndsLive(message, session))
                    {
                        _live.Remove(message.Id);
                    }
                    else
                    {
                        session = null;
                    }
                }
                if (session != null)
                {
                    session.OnEnd(message);
                }
            }
            _events.Enqueue(ClientEvent.ForMessage(message));
        }

        /// <summary>
        /// Whether a done or error for a live session's id ends it. Once accepted, a `bad_request` or `too_long`
        /// refuses one `live_prompt` (an empty or too long prompt) and the stream goes on with the old prompt.
        /// </summary>
        private static bool EndsLive(ServerMessage message, LiveSession session)
        {
            var error = message as ErrorMessage;
            if (error == null || session.Job == null)
            {
                return true;
            }
            return error.Code != ErrorCodes.BadRequest && error.Code != ErrorCodes.TooLong;
        }

        private void SetState(ConnectionState state, string reason, int closeCode)
        {
            _state = (int)state;
            _events.Enqueue(ClientEvent.ForState(state, reason, closeCode));
        }

        private async Task RunAsync(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                SetState(Attempt == 0 && Connections == 0 ? ConnectionState.Connecting : ConnectionState.Reconnecting,
                    "connecting to " + _options.Url, 0);
                Interlocked.Exchange(ref _nextAttemptTicks, 0);
                int closeCode = 0;
                string reason;
                bool wasReady = false;
                var socket = new ClientWebSocket();
                socket.Options.AddSubProtocol(ProtocolConstants.Subprotocol);
                lock (_lock)
                {
                    _socket = socket;
                }
                try
                {
                    await HandshakeAsync(socket, stop).ConfigureAwait(false);
                    wasReady = true;
                    var close = await ReceiveLoopAsync(socket, stop).ConfigureAwait(false);
                    closeCode = close.Key;
                    reason = close.Value;
                }
                catch (OperationCanceledException)
                {
                    reason = stop.IsCancellationRequested ? "stopped" : "the daemon did not finish the handshake in time";
                }
                catch (ProtocolException error)
                {
                    reason = "protocol error: " + error.Message;
                }
                catch (Exception error)
                {
                    // WebSocketException (refused, reset), IOException, ...: the daemon is not reachable right now.
                    reason = Describe(error);
                }
                if (closeCode == 0 && socket.CloseStatus.HasValue)
                {
                    // A close during the handshake (e.g. 4001 after identify) says more than the exception it caused.
                    closeCode = (int)socket.CloseStatus.Value;
                    reason = socket.CloseStatusDescription;
                }
                socket.Dispose();
                FailPendingAfterDrop();
                if (stop.IsCancellationRequested)
                {
                    break;
                }
                if (closeCode != 0)
                {
                    reason = CloseCodes.Describe(closeCode) + (string.IsNullOrEmpty(reason) ? "" : " (" + reason + ")");
                }
                if (CloseCodes.IsFatal(closeCode))
                {
                    FailAllPending(reason);
                    SetState(ConnectionState.Failed, reason, closeCode);
                    return;
                }
                if (!_options.AutoReconnect)
                {
                    FailAllPending(reason);
                    SetState(ConnectionState.Disconnected, reason, closeCode);
                    return;
                }
                if (wasReady)
                {
                    Volatile.Write(ref _attempt, 0);
                }
                var delay = _options.Reconnect.DelayFor(Attempt, _jitter);
                Interlocked.Increment(ref _attempt);
                Interlocked.Exchange(ref _nextAttemptTicks, DateTime.UtcNow.Add(delay).Ticks);
                SetState(ConnectionState.Reconnecting,
                    reason + "; retrying in " + delay.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s", closeCode);
                try
                {
                    await Task.Delay(delay, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            Interlocked.Exchange(ref _nextAttemptTicks, 0);
            FailAllPending("the client was stopped");
            SetState(ConnectionState.Disconnected, "stopped", 0);
        }

        /// <summary>No reconnect will come to resume them: every request still open ends with connection_lost.</summary>
        private void FailAllPending(string reason)
        {
            List<string> lost;
            lock (_lock)
            {
                lost = new List<string>(_pending.Keys);
                _pending.Clear();
            }
            foreach (var id in lost)
            {
                Report(new ErrorMessage(id, ConnectionLostCode, "the connection closed (" + reason + ")"));
            }
        }

        private static string Describe(Exception error)
        {
            var inner = error;
            while (inner.InnerException != null && (inner is AggregateException || inner is WebSocketException))
            {
                inner = inner.InnerException;
            }
            return inner == error ? error.Message : error.Message + ": " + inner.Message;
        }

        private async Task HandshakeAsync(ClientWebSocket socket, CancellationToken stop)
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
            {
                timeout.CancelAfter(_options.HandshakeTimeout);
                await socket.ConnectAsync(_options.Url, timeout.Token).ConfigureAwait(false);
                if (socket.SubProtocol != ProtocolConstants.Subprotocol)
                {
                    throw new ProtocolException("the server did not accept subprotocol " + ProtocolConstants.Subprotocol
                        + ": is this a MotionBridge daemon?");
                }
                var hello = await ReceiveMessageAsync(socket, timeout.Token).ConfigureAwait(false) as HelloMessage;
                if (hello == null)
                {
                    throw new ProtocolException("the daemon did not start with hello");
                }
                if (hello.ProtocolVersion != ProtocolConstants.Version)
                {
                    throw new ProtocolException("the daemon speaks protocol " + hello.ProtocolVersion + ", this package speaks "
                        + ProtocolConstants.Version);
                }
                if (hello.TokenRequired && string.IsNullOrEmpty(_options.Token))
                {
                    // Send identify anyway: the daemon answers 4001, which is the clear, fatal outcome.
                    SetState(ConnectionState.Connecting, "the daemon requires a token", 0);
                }
                var identify = ProtocolCodec.Encode(ClientMessages.Identify(_options.ClientName, _options.Token));
                await socket.SendAsync(new ArraySegment<byte>(identify), WebSocketMessageType.Binary, true, timeout.Token)
                    .ConfigureAwait(false);
                var ready = await ReceiveMessageAsync(socket, timeout.Token).ConfigureAwait(false);
                if (!(ready is ReadyMessage))
                {
                    throw new ProtocolException("expected ready after identify, got " + (ready == null ? "a close" : ready.Op));
                }
                _hello = hello;
            }
            Interlocked.Increment(ref _connections);
            Volatile.Write(ref _attempt, 0);
            lock (_lock)
            {
                _sendTail = Task.FromResult(0);
            }
            SetState(ConnectionState.Ready, "connected to " + _hello.Server + ", model " + _hello.Model.Name, 0);
            ResumeAfterReconnect();
        }

        /// <summary>
        /// Requests that had been accepted are fetched again under the same id (a finished job replays its motion
        /// and done; one the drop cancelled answers not_found). Requests never accepted are lost: say so.
        /// </summary>
        private void ResumeAfterReconnect()
        {
            var resume = new List<KeyValuePair<string, PendingRequest>>();
            lock (_lock)
            {
                foreach (var entry in _pending)
                {
                    // Only accepted requests have a job to fetch; one made while reconnecting has not been
                    // answered yet and goes out as itself (a fetch without a job is a bad_request).
                    if (!string.IsNullOrEmpty(entry.Value.Job))
                    {
                        resume.Add(entry);
                    }
                }
            }
            foreach (var entry in resume)
            {
                Send(ClientMessages.Fetch(entry.Key, entry.Value.Job, entry.Value.Target), entry.Key);
            }
        }

        private void FailPendingAfterDrop()
        {
            var lost = new List<string>();
            lock (_lock)
            {
                foreach (var entry in _pending)
                {
                    // A live session dies with its connection (the daemon stops it); there is nothing to fetch.
                    if (entry.Value.Job == null || entry.Value.Kind == RequestKind.Live)
                    {
                        lost.Add(entry.Key);
                    }
                }
                foreach (var id in lost)
                {
                    _pending.Remove(id);
                }
            }
            foreach (var id in lost)
            {
                Report(new ErrorMessage(id, ConnectionLostCode,
                    "the connection dropped before the daemon accepted this request: generate again"));
            }
        }

        private async Task<KeyValuePair<int, string>> ReceiveLoopAsync(ClientWebSocket socket, CancellationToken stop)
        {
            while (true)
            {
                var frame = await ReceiveFrameAsync(socket, stop).ConfigureAwait(false);
                if (frame == null)
                {
                    int code = socket.CloseStatus.HasValue ? (int)socket.CloseStatus.Value : 0;
                    return new KeyValuePair<int, string>(code, socket.CloseStatusDescription);
                }
                ServerMessage message;
                try
                {
                    message = ProtocolCodec.Decode(frame);
                }
                catch (ProtocolException error)
                {
                    // One bad message must not cost the user the connection and every other request on it.
                    Report(new ErrorMessage(null, BadReplyCode, error.Message));
                    continue;
                }
                Dispatch(message);
            }
        }

        private void Dispatch(ServerMessage message)
        {
            var motion = message as MotionMessage;
            if (motion != null && motion.Live)
            {
                if (!DispatchLive(motion))
                {
                    return;
                }
            }
            else if (motion != null)
            {
                try
                {
                    _frames.Add(motion);
                }
                catch (ProtocolException error)
                {
                    Report(new ErrorMessage(motion.Id, BadReplyCode, error.Message));
                    return;
                }
            }
            else if (message is AcceptedMessage)
            {
                var live = LiveSessionOf(message.Id);
                if (live != null)
                {
                    live.OnAccepted(((AcceptedMessage)message).Job);
                }
                lock (_lock)
                {
                    PendingRequest pending;
                    if (_pending.TryGetValue(message.Id, out pending))
                    {
                        pending.Job = ((AcceptedMessage)message).Job;
                    }
                }
            }
            else if (message is LiveStateMessage)
            {
                var live = LiveSessionOf(message.Id);
                if (live != null)
                {
                    live.OnState((LiveStateMessage)message);
                }
            }
            else if ((message is DoneMessage || message is ErrorMessage || message is StatusMessage) && message.Id != null)
            {
                var live = LiveSessionOf(message.Id);
                if (live == null || EndsLive(message, live))
                {
                    Forget(message.Id);
                }
            }
            Report(message);
        }

        /// <summary>Files a live chunk in its session's ring; false when it could not (reported as an error event).</summary>
        private bool DispatchLive(MotionMessage motion)
        {
            var session = LiveSessionOf(motion.Id);
            if (session == null)
            {
                // A chunk still in flight when the session ended: nothing plays it any more.
                return false;
            }
            try
            {
                session.OnMotion(motion);
            }
            catch (ProtocolException error)
            {
                // The stream is broken for good: stop it on the daemon too, and end the session here.
                Send(ClientMessages.LiveStop(motion.Id), null);
                Report(new ErrorMessage(motion.Id, BadReplyCode, error.Message));
                return false;
            }
            try
            {
                session.RaiseFramesReceived(motion.Start, motion.Count);
            }
            catch (Exception error)
            {
                // A script's handler must not cost the connection; say where it broke.
                Report(new ErrorMessage(null, HandlerFailedCode, "a LiveSession.FramesReceived handler threw: " + error.Message));
            }
            return true;
        }

        /// <summary>Reads and decodes one whole message; null when the server closed the connection.</summary>
        private async Task<ServerMessage> ReceiveMessageAsync(ClientWebSocket socket, CancellationToken cancel)
        {
            var frame = await ReceiveFrameAsync(socket, cancel).ConfigureAwait(false);
            return frame == null ? null : ProtocolCodec.Decode(frame);
        }

        /// <summary>Reads one whole binary message; null when the server closed the connection.</summary>
        private async Task<byte[]> ReceiveFrameAsync(ClientWebSocket socket, CancellationToken cancel)
        {
            var chunk = new byte[64 * 1024];
            using (var whole = new MemoryStream())
            {
                while (true)
                {
                    var result = await socket.ReceiveAsync(new ArraySegment<byte>(chunk), cancel).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return null;
                    }
                    if (result.MessageType != WebSocketMessageType.Binary)
                    {
                        throw new ProtocolException("the daemon sent a text frame on the msgpack subprotocol");
                    }
                    if (whole.Length + result.Count > _options.MaxMessageBytes)
                    {
                        throw new ProtocolException("a message exceeded " + _options.MaxMessageBytes + " bytes");
                    }
                    whole.Write(chunk, 0, result.Count);
                    if (result.EndOfMessage)
                    {
                        return whole.ToArray();
                    }
                }
            }
        }
    }
}
