// MotionBridge for Unity: the frames of a live session, kept for playback and recording.
using System;
using MotionBridge.Protocol;

namespace MotionBridge.Motion
{
    /// <summary>
    /// A ring of the newest <see cref="Capacity"/> frames of a live stream. The receive thread appends live
    /// `motion` chunks (contiguous, numbered from the session's first frame); the main thread copies single
    /// frames for playback and cuts takes for recording. Frames older than the capacity are overwritten, so a
    /// session that runs for hours holds a fixed amount of memory.
    /// </summary>
    public sealed class LiveFrameRing
    {
        private readonly object _lock = new object();
        private float[] _root;
        private float[] _rotations;
        private string[] _joints;
        private string _target;
        private int _fps;
        private int _received;
        private long _version;

        public LiveFrameRing(int capacity)
        {
            if (capacity < 1)
            {
                throw new ArgumentOutOfRangeException("capacity", "a ring holds at least one frame");
            }
            Capacity = capacity;
        }

        public int Capacity { get; private set; }

        /// <summary>Frames received since the session began: the index the next chunk must start at.</summary>
        public int Received
        {
            get { lock (_lock) { return _received; } }
        }

        /// <summary>The oldest frame still held.</summary>
        public int Oldest
        {
            get { lock (_lock) { return Math.Max(0, _received - Capacity); } }
        }

        /// <summary>Frames per second of the stream; 0 before the first chunk.</summary>
        public int Fps
        {
            get { lock (_lock) { return _fps; } }
        }

        /// <summary>Joint names of the stream; null before the first chunk.</summary>
        public string[] Joints
        {
            get { lock (_lock) { return _joints; } }
        }

        /// <summary>Grows with every append, so a reader can tell cheaply whether anything is new.</summary>
        public long Version
        {
            get { lock (_lock) { return _version; } }
        }

        /// <summary>Appends one live chunk. A chunk that does not continue the stream, or changes its joints or fps, is a ProtocolException.</summary>
        public void Append(MotionMessage message)
        {
            if (message == null)
            {
                throw new ArgumentNullException("message");
            }
            lock (_lock)
            {
                if (_joints == null)
                {
                    _joints = message.Joints;
                    _fps = message.Fps;
                    _target = message.Target;
                    _root = new float[Capacity * 3];
                    _rotations = new float[Capacity * _joints.Length * 4];
                }
                if (message.Start != _received)
                {
                    throw new ProtocolException("live motion of " + message.Id + " starts at frame " + message.Start
                        + " but " + _received + " frame(s) were received");
                }
                if (message.Joints.Length != _joints.Length || message.Fps != _fps)
                {
                    throw new ProtocolException("live motion of " + message.Id + " changed its joints or fps mid-stream");
                }
                int joints = _joints.Length;
                for (int k = 0; k < message.Count; k++)
                {
                    int slot = (_received + k) % Capacity;
                    Array.Copy(message.Root, 3 * k, _root, 3 * slot, 3);
                    Array.Copy(message.Rotations, k * joints * 4, _rotations, slot * joints * 4, joints * 4);
                }
                _received += message.Count;
                _version++;
            }
        }

        /// <summary>
        /// Copies frame <paramref name="frame"/> into <paramref name="root"/> (3 floats) and <paramref name="rotations"/>
        /// (joints × 4); false when the ring no longer, or not yet, holds it.
        /// </summary>
        public bool CopyFrame(int frame, float[] root, float[] rotations)
        {
            lock (_lock)
            {
                if (_joints == null || frame < Math.Max(0, _received - Capacity) || frame >= _received)
                {
                    return false;
                }
                int joints = _joints.Length;
                int slot = frame % Capacity;
                Array.Copy(_root, 3 * slot, root, 0, 3);
                Array.Copy(_rotations, slot * joints * 4, rotations, 0, joints * 4);
                return true;
            }
        }

        /// <summary>
        /// The last <paramref name="seconds"/> of the stream that end just before frame <paramref name="end"/> (e.g. the
        /// frame after the one on screen), as far as the ring still holds them; null when it holds none of them.
        /// </summary>
        public MotionTake TakeLast(double seconds, int end, string requestId, string job, long seed)
        {
            lock (_lock)
            {
                if (_joints == null || double.IsNaN(seconds) || seconds <= 0)
                {
                    return null;
                }
                end = Math.Min(end, _received);
                int wanted = (int)Math.Round(seconds * _fps);
                int first = Math.Max(Math.Max(0, _received - Capacity), end - wanted);
                int frames = end - first;
                if (frames <= 0)
                {
                    return null;
                }
                int joints = _joints.Length;
                var root = new float[frames * 3];
                var rotations = new float[frames * joints * 4];
                for (int k = 0; k < frames; k++)
                {
                    int slot = (first + k) % Capacity;
                    Array.Copy(_root, 3 * slot, root, 3 * k, 3);
                    Array.Copy(_rotations, slot * joints * 4, rotations, k * joints * 4, joints * 4);
                }
                return new MotionTake(requestId, job, 0, seed, _target, _fps, _joints, root, rotations, true, -1);
            }
        }
    }
}
