// MotionBridge for Unity: one live session (protocol v1.1 live mode) on a client's connection.
using System;
using MotionBridge.Motion;
using MotionBridge.Protocol;

namespace MotionBridge.Client
{
    /// <summary>
    /// A motion that keeps going until stopped, made by <see cref="MotionBridgeClient.StartLive"/>. Its frames
    /// land in <see cref="Frames"/> as they arrive; <see cref="ChangePrompt"/> steers it and <see cref="Stop"/>
    /// ends it (the daemon answers with `done`). The daemon runs at most one per connection.
    /// </summary>
    public sealed class LiveSession
    {
        private readonly MotionBridgeClient _client;
        private volatile string _job;
        private volatile string _prompt;
        private volatile LiveStateMessage _state;
        private volatile ServerMessage _end;

        internal LiveSession(MotionBridgeClient client, string id, LiveRequest request, int historyFrames)
        {
            _client = client;
            Id = id;
            Target = request.Target;
            Seed = request.Seed;
            _prompt = request.Prompt;
            Frames = new LiveFrameRing(historyFrames);
        }

        /// <summary>
        /// Raised on the client's receive thread after each chunk is in <see cref="Frames"/>, with the chunk's first
        /// frame and frame count. Keep handlers short and hand work to your own thread (in Unity: never touch the scene
        /// here; read <see cref="Frames"/> from EditorApplication.update instead).
        /// </summary>
        public event Action<LiveSession, int, int> FramesReceived;

        /// <summary>The request id of `live_start`: every reply of the session carries it.</summary>
        public string Id { get; private set; }

        /// <summary>The daemon's job id from `accepted`; null until then.</summary>
        public string Job
        {
            get { return _job; }
        }

        public string Target { get; private set; }

        public long Seed { get; private set; }

        /// <summary>The newest prompt sent (live_start's, then each <see cref="ChangePrompt"/>'s).</summary>
        public string Prompt
        {
            get { return _prompt; }
        }

        /// <summary>The daemon's last `live_state`: which prompt it follows from which frame; null before the first.</summary>
        public LiveStateMessage State
        {
            get { return _state; }
        }

        public LiveFrameRing Frames { get; private set; }

        /// <summary>False once the session ended (its `done` or `error` arrived, or the connection was lost).</summary>
        public bool IsRunning
        {
            get { return _end == null; }
        }

        /// <summary>The `done` that ended the session; null otherwise.</summary>
        public DoneMessage Done
        {
            get { return _end as DoneMessage; }
        }

        /// <summary>The `error` that ended the session (e.g. `busy`: one live session per connection); null otherwise.</summary>
        public ErrorMessage Error
        {
            get { return _end as ErrorMessage; }
        }

        /// <summary>Sends `live_prompt`; the matching `live_state` names the first frame that follows it.</summary>
        public void ChangePrompt(string prompt)
        {
            if (prompt == null || prompt.Trim().Length == 0)
            {
                throw new ArgumentException("type a prompt first");
            }
            if (!IsRunning)
            {
                throw new InvalidOperationException("the live session has ended");
            }
            _client.SendLive(ClientMessages.LivePrompt(Id, prompt));
            _prompt = prompt;
        }

        /// <summary>Sends `live_stop` (nothing if the session already ended); the session ends when its `done` arrives.</summary>
        public void Stop()
        {
            if (IsRunning)
            {
                _client.SendLive(ClientMessages.LiveStop(Id));
            }
        }

        internal void OnAccepted(string job)
        {
            _job = job;
        }

        internal void OnMotion(MotionMessage motion)
        {
            Frames.Append(motion);
        }

        internal void RaiseFramesReceived(int start, int count)
        {
            var handler = FramesReceived;
            if (handler != null)
            {
                handler(this, start, count);
            }
        }

        internal void OnState(LiveStateMessage state)
        {
            _state = state;
        }

        internal void OnEnd(ServerMessage end)
        {
            _end = end;
        }
    }
}
