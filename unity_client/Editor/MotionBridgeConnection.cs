// MotionBridge for Unity: the editor's one daemon connection, its event pump and domain-reload handling.
using System;
using MotionBridge.Client;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>
    /// Owns the <see cref="MotionBridgeClient"/> of this editor. The client receives on background tasks;
    /// <see cref="Pump"/> runs in EditorApplication.update (which keeps running, throttled, while the editor is
    /// unfocused) and turns its events into <see cref="MotionBridgeState"/>. Before a domain reload the socket is
    /// closed with 1001; after it, this class is re-initialised, reconnects and fetches a result that finished
    /// while scripts were reloading. Batch-mode editors and asset import workers never connect by themselves.
    /// </summary>
    [InitializeOnLoad]
    public static class MotionBridgeConnection
    {
        private static MotionBridgeClient _client;
        private static bool _resumeAfterReload;
        private static StoredTake _cachedStored;
        private static MotionTake _cachedTake;

        /// <summary>How long a domain reload waits for the socket to close: its 1001 must leave before the domain goes.</summary>
        private static readonly TimeSpan ReloadCloseWait = TimeSpan.FromMilliseconds(500);

        /// <summary>Raised on the main thread whenever something the window shows changed.</summary>
        public static event Action Changed;

        static MotionBridgeConnection()
        {
            if (AssetDatabase.IsAssetImportWorkerProcess())
            {
                // Import workers only import assets; a socket per worker would be one more editor to the daemon.
                return;
            }
            AssemblyReloadEvents.beforeAssemblyReload += OnBeforeAssemblyReload;
            EditorApplication.quitting += Disconnect;
            EditorApplication.update += Pump;
            var state = MotionBridgeState.instance;
            _resumeAfterReload = state.generating;
            // A batch-mode editor (CI, build scripts) connects only when a script asks it to.
            if (state.wantConnected && !Application.isBatchMode)
            {
                // Not in the static constructor itself: the editor is still initialising here.
                EditorApplication.delayCall += Connect;
            }
        }

        public static MotionBridgeClient Client
        {
            get { return _client; }
        }

        public static ConnectionState State
        {
            get { return _client == null ? ConnectionState.Disconnected : _client.State; }
        }

        public static HelloMessage Hello
        {
            get { return _client == null ? null : _client.Hello; }
        }

        public static void Connect()
        {
            var state = MotionBridgeState.instance;
            state.wantConnected = true;
            if (_client != null && (_client.State == ConnectionState.Ready || _client.State == ConnectionState.Connecting
                || _client.State == ConnectionState.Reconnecting))
            {
                return;
            }
            DisposeClient(false);
            Uri url;
            if (!Uri.TryCreate(state.ServerUrl, UriKind.Absolute, out url))
            {
                state.statusLine = "the server URL is not valid, e.g. " + ProtocolConstants.DefaultUrl;
                RaiseChanged();
                return;
            }
            try
            {
                _client = new MotionBridgeClient(new MotionBridgeClientOptions
                {
                    Url = url,
                    Token = state.Token,
                    ClientName = "motionbridge-unity/0.1.0 (Unity " + Application.unityVersion + ")",
                });
            }
            catch (ArgumentException error)
            {
                state.statusLine = error.Message;
                RaiseChanged();
                return;
            }
            _client.Start();
        }

        public static void Disconnect()
        {
            MotionBridgeLive.Stop();
            MotionBridgeState.instance.wantConnected = false;
            DisposeClient(false);
            RaiseChanged();
        }

        private static void DisposeClient(bool goingAway)
        {
            if (_client == null)
            {
                return;
            }
            if (goingAway)
            {
                _client.Close(true, ReloadCloseWait);
            }
            else
            {
                // Returns at once; the old connection finishes closing in the background.
                _client.CloseAsync(false);
            }
            _client = null;
        }

        private static void OnBeforeAssemblyReload()
        {
            MotionBridgeLive.Stop();
            MotionBridgePlayback.Stop();
            DisposeClient(true);
        }

        /// <summary>Sends the window's settings as a generate request; the answer streams in through <see cref="Pump"/>.</summary>
        public static void Generate()
        {
            var state = MotionBridgeState.instance;
            if (_client == null || _client.State != ConnectionState.Ready)
            {
                state.statusLine = "not connected: press Connect and check that `motionbridge serve` is running";
                RaiseChanged();
                return;
            }
            var request = new GenerateRequest
            {
                Prompt = state.prompt.Trim(),
                Seconds = state.seconds,
                Seed = state.seed,
                Samples = state.samples,
                Steps = state.useModelSteps ? (int?)null : state.steps,
                Cfg = state.useModelCfg ? (double?)null : state.cfg,
                Target = ProtocolConstants.UnityTarget,
                PreviewEvery = Math.Max(0, state.previewEvery),
                Loop = state.loopMotion,
                InPlace = state.inPlace,
            };
            var directing = MotionBridgeDirecting.Apply(request, state, _client.Hello);
            if (directing != null)
            {
                state.statusLine = directing;
                RaiseChanged();
                return;
            }
            string previous = state.activeRequestId;
            try
            {
                state.activeRequestId = _client.Generate(request);
            }
            catch (ArgumentException error)
            {
                state.statusLine = error.Message;
                RaiseChanged();
                return;
            }
            catch (InvalidOperationException error)
            {
                state.statusLine = error.Message;
                RaiseChanged();
                return;
            }
            if (!string.IsNullOrEmpty(previous))
            {
                // Its final takes are already in the state; the buffer would otherwise grow with every request.
                _client.Frames.Remove(previous);
            }
            if (request.Prompt.Length > 0)
            {
                state.Remember(request.Prompt);
            }
            state.segments.Clear();
            MotionBridgePlayback.ResumeTake();
            state.activeJob = null;
            state.generating = true;
            state.progress = 0;
            state.takes.Clear();
            state.selectedSample = Math.Min(state.selectedSample, request.Samples - 1);
            state.playTime = 0;
            state.statusLine = "sent: waiting for the daemon";
            RaiseChanged();
        }

        public static void Cancel()
        {
            var state = MotionBridgeState.instance;
            if (_client == null || !state.generating || !state.HasActiveRequest)
            {
                return;
            }
            try
            {
                _client.Cancel(state.activeRequestId);
                state.statusLine = "cancelling…";
            }
            catch (InvalidOperationException error)
            {
                state.statusLine = error.Message;
            }
            RaiseChanged();
        }

        /// <summary>The motion to show for a sample: the request's newest preview or final take, else the stored result.</summary>
        public static MotionTake CurrentTake(int sample)
        {
            var state = MotionBridgeState.instance;
            if (_client != null && state.HasActiveRequest)
            {
                var live = _client.Frames.Latest(state.activeRequestId, sample);
                if (live != null)
                {
                    return live;
                }
            }
            var stored = state.StoredFor(sample);
            if (stored == null)
            {
                return null;
            }
            if (!ReferenceEquals(stored, _cachedStored))
            {
                _cachedStored = stored;
                _cachedTake = stored.ToTake();
            }
            return _cachedTake;
        }

        /// <summary>Samples the current result has (or will have).</summary>
        public static int SampleCount()
        {
            var state = MotionBridgeState.instance;
            int live = _client != null && state.HasActiveRequest ? _client.Frames.SampleCount(state.activeRequestId) : 0;
            int stored = 0;
            foreach (var take in state.takes)
            {
                stored = Math.Max(stored, take.sample + 1);
            }
            return Math.Max(live, stored);
        }

        private static void Pump()
        {
            // An exception escaping here would skip every later EditorApplication.update subscriber, every frame.
            try
            {
                PumpOnce();
            }
            catch (Exception error)
            {
                OnPumpFailed(error);
            }
        }

        private static void PumpOnce()
        {
            bool changed = false;
            if (_client != null)
            {
                ClientEvent clientEvent;
                // Bounded so a flood of previews cannot stall the editor for a whole frame.
                for (int handled = 0; handled < 256 && _client != null && _client.TryDequeue(out clientEvent); handled++)
                {
                    changed = true;
                    Handle(clientEvent);
                }
            }
            if (MotionBridgeLive.Tick())
            {
                changed = true;
            }
            if (MotionBridgePlayback.Tick())
            {
                changed = true;
            }
            if (changed)
            {
                RaiseChanged();
            }
        }

        /// <summary>Reports a bug in the pump and keeps the window usable: no request stays "generating" for ever.</summary>
        private static void OnPumpFailed(Exception error)
        {
            Debug.LogException(error);
            var state = MotionBridgeState.instance;
            state.statusLine = "MotionBridge hit an error (see the Console): " + error.Message;
            if (state.generating && (_client == null || !state.HasActiveRequest || !_client.IsPending(state.activeRequestId)))
            {
                state.generating = false;
            }
        }

        private static void Handle(ClientEvent clientEvent)
        {
            var state = MotionBridgeState.instance;
            if (clientEvent.IsStateChange)
            {
                state.statusLine = clientEvent.Reason;
                if (clientEvent.State == ConnectionState.Ready)
                {
                    OnReady(state);
                }
                return;
            }
            var message = clientEvent.Message;
            var live = MotionBridgeLive.Session;
            if (live != null && message.Id == live.Id && message is ErrorMessage)
            {
                // A refused live_prompt (the stream goes on with the old prompt); an error that ends it shows at the next tick.
                state.statusLine = "live: " + ((ErrorMessage)message).Code + ": " + ((ErrorMessage)message).Message;
                return;
            }
            if (message.Id != null && message.Id != state.activeRequestId)
            {
                if (message is ErrorMessage)
                {
                    Debug.LogWarning("MotionBridge: " + ((ErrorMessage)message).Code + ": " + ((ErrorMessage)message).Message);
                }
                return;
            }
            var accepted = message as AcceptedMessage;
            if (accepted != null)
            {
                state.activeJob = accepted.Job;
                state.statusLine = accepted.QueuePosition == 0
                    ? "accepted as job " + accepted.Job
                    : "queued as job " + accepted.Job + ", " + accepted.QueuePosition + " ahead";
                return;
            }
            var progress = message as ProgressMessage;
            if (progress != null)
            {
                state.progress = progress.Fraction;
                state.statusLine = "sampling step " + progress.Step + "/" + progress.Steps
                    + (double.IsNaN(progress.EtaMs) ? "" : ", about " + Math.Ceiling(progress.EtaMs / 1000.0) + " s left");
                return;
            }
            var motion = message as MotionMessage;
            if (motion != null)
            {
                OnMotion(state, motion);
                return;
            }
            var done = message as DoneMessage;
            if (done != null)
            {
                state.generating = false;
                state.progress = 1f;
                state.segments.Clear();
                foreach (var span in done.Segments ?? new SegmentSpan[0])
                {
                    state.segments.Add(new SegmentRow { start = span.Start, count = span.Count });
                }
                state.statusLine = "done: " + done.Samples + " × " + done.Frames + " frames in "
                    + Math.Round(done.Timings.TotalMs) + " ms" + (done.Cached ? " (cached)" : "");
                return;
            }
            var error = message as ErrorMessage;
            if (error != null && error.Id == null)
            {
                // Not about our request (e.g. a reply this package could not read): report, keep going.
                state.statusLine = error.Code + ": " + error.Message;
                Debug.LogWarning("MotionBridge: " + state.statusLine);
            }
            else if (error != null)
            {
                OnError(state, error);
            }
        }

        private static void OnReady(MotionBridgeState state)
        {
            var hello = _client.Hello;
            string[] unityJoints;
            if (hello != null && hello.TargetJoints.TryGetValue(ProtocolConstants.UnityTarget, out unityJoints))
            {
                state.skeleton = StoredSkeleton.From(new UnitySourceSkeleton(hello.Skeleton, unityJoints));
            }
            if (_resumeAfterReload)
            {
                _resumeAfterReload = false;
                if (!state.HasActiveJob)
                {
                    state.generating = false;
                    state.statusLine = "the script reload interrupted the request before the daemon accepted it: generate again";
                    return;
                }
                // The reload closed the socket, which cancels a running job; a job that finished is still fetchable.
                try
                {
                    state.activeRequestId = _client.Fetch(state.activeJob, ProtocolConstants.UnityTarget);
                    state.statusLine = "fetching job " + state.activeJob + " after the script reload";
                }
                catch (InvalidOperationException)
                {
                    // The connection dropped again before this event was handled: try at the next ready.
                    _resumeAfterReload = true;
                }
            }
        }

        private static void OnMotion(MotionBridgeState state, MotionMessage motion)
        {
            if (!state.skeleton.IsValid && _client.Hello != null)
            {
                // An older daemon without `targets` in hello: the motion's joint names are the Unity names.
                state.skeleton = StoredSkeleton.From(new UnitySourceSkeleton(_client.Hello.Skeleton, motion.Joints));
            }
            if (motion.Preview)
            {
                state.statusLine = "preview of step " + motion.Step;
                return;
            }
            var final = _client.Frames.Final(motion.Id, motion.Sample);
            if (final != null)
            {
                state.Store(final);
            }
        }

        private static void OnError(MotionBridgeState state, ErrorMessage error)
        {
            state.generating = false;
            state.progress = 0;
            if (error.Code == ErrorCodes.Cancelled)
            {
                state.statusLine = "cancelled";
            }
            else if (error.Code == ErrorCodes.NotFound && state.HasActiveJob)
            {
                state.statusLine = "job " + state.activeJob + " is gone (it was still running when the connection closed): generate again";
            }
            else
            {
                state.statusLine = error.Code + ": " + error.Message;
            }
        }

        private static void RaiseChanged()
        {
            var handler = Changed;
            if (handler != null)
            {
                handler();
            }
        }
    }
}
