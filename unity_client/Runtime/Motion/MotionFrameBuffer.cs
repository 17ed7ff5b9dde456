// MotionBridge for Unity: collects motion chunks from the receive thread for the editor's main thread.
using System;
using System.Collections.Generic;
using MotionBridge.Protocol;

namespace MotionBridge.Motion
{
    /// <summary>
    /// Thread-safe store of motion per request and sample. The WebSocket receive thread adds `motion`
    /// messages; the editor's main thread reads snapshots at its own (possibly throttled) pace. A newer preview
    /// replaces the older one; final chunks are assembled in order into one take that then replaces the
    /// preview. Snapshots are immutable, so readers never see a half-written frame.
    /// </summary>
    public sealed class MotionFrameBuffer
    {
        /// <summary>Longest sample accepted (frames); far above any model's limit, it only stops absurd allocations.</summary>
        public const int MaxFrames = 100000;

        private sealed class SampleTrack
        {
            public MotionTake Preview;
            public MotionTake Final;
            public float[] PartialRoot;
            public float[] PartialRotations;
            public string[] PartialJoints;
            public int PartialFrames;
        }

        private readonly object _lock = new object();
        private readonly Dictionary<string, List<SampleTrack>> _requests = new Dictionary<string, List<SampleTrack>>();
        private long _version;

        /// <summary>Grows by one with every change, so a reader can tell cheaply whether anything is new.</summary>
        public long Version
        {
            get { lock (_lock) { return _version; } }
        }

        /// <summary>Adds one `motion` message. A final chunk that does not continue its sample is a ProtocolException.</summary>
        public void Add(MotionMessage message)
        {
            if (message == null)
            {
                throw new ArgumentNullException("message");
            }
            if (message.Total > MaxFrames)
            {
                throw new ProtocolException("motion of " + message.Total + " frames exceeds " + MaxFrames);
            }
            lock (_lock)
            {
                var track = Track(message.Id, message.Sample);
                if (message.Preview)
                {
                    track.Preview = new MotionTake(message.Id, message.Job, message.Sample, message.Seed, message.Target,
                        message.Fps, message.Joints, message.Root, message.Rotations, false, message.Step);
                }
                else
                {
                    AddFinalChunk(track, message);
                }
                _version++;
            }
        }

        private static void AddFinalChunk(SampleTrack track, MotionMessage message)
        {
            int joints = message.Joints.Length;
            if (message.Start == 0)
            {
                // A new final stream for this sample (first delivery, or a fetch replay after reconnecting).
                track.PartialRoot = new float[message.Total * 3];
                track.PartialRotations = new float[message.Total * joints * 4];
                track.PartialJoints = message.Joints;
                track.PartialFrames = 0;
            }
            if (track.PartialRoot == null || message.Start != track.PartialFrames
                || track.PartialRoot.Length != message.Total * 3 || track.PartialJoints.Length != joints)
            {
                throw new ProtocolException(
                    "motion chunk of request " + message.Id + " sample " + message.Sample + " starts at frame "
                    + message.Start + " but " + track.PartialFrames + " frame(s) were received");
            }
            Array.Copy(message.Root, 0, track.PartialRoot, message.Start * 3, message.Count * 3);
            Array.Copy(message.Rotations, 0, track.PartialRotations, message.Start * joints * 4, message.Count * joints * 4);
            track.PartialFrames += message.Count;
            if (message.Final)
            {
                if (track.PartialFrames != message.Total)
                {
                    throw new ProtocolException(
                        "final chunk of request " + message.Id + " ends at frame " + track.PartialFrames + " of " + message.Total);
                }
                track.Final = new MotionTake(message.Id, message.Job, message.Sample, message.Seed, message.Target,
                    message.Fps, track.PartialJoints, track.PartialRoot, track.PartialRotations, true, -1);
                track.PartialRoot = null;
                track.PartialRotations = null;
                track.PartialJoints = null;
                track.PartialFrames = 0;
            }
        }

        private SampleTrack Track(string requestId, int sample)
        {
            List<SampleTrack> samples;
            if (!_requests.TryGetValue(requestId, out samples))
            {
                samples = new List<SampleTrack>();
                _requests[requestId] = samples;
            }
            while (samples.Count <= sample)
            {
                samples.Add(new SampleTrack());
            }
            return samples[sample];
        }

        /// <summary>Number of samples seen so far for a request.</summary>
        public int SampleCount(string requestId)
        {
            lock (_lock)
            {
                List<SampleTrack> samples;
                return _requests.TryGetValue(requestId, out samples) ? samples.Count : 0;
            }
        }

        /// <summary>The best motion so far: the complete final take, else the latest preview, else null.</summary>
        public MotionTake Latest(string requestId, int sample)
        {
            lock (_lock)
            {
                List<SampleTrack> samples;
                if (!_requests.TryGetValue(requestId, out samples) || sample < 0 || sample >= samples.Count)
                {
                    return null;
                }
                var track = samples[sample];
                return track.Final ?? track.Preview;
            }
        }

        /// <summary>The complete final take of a sample, or null while it is still arriving.</summary>
        public MotionTake Final(string requestId, int sample)
        {
            lock (_lock)
            {
                List<SampleTrack> samples;
                if (!_requests.TryGetValue(requestId, out samples) || sample < 0 || sample >= samples.Count)
                {
                    return null;
                }
                return samples[sample].Final;
            }
        }

        /// <summary>Frames of the final take received so far (for a progress readout while chunks stream in).</summary>
        public int FinalFramesReceived(string requestId, int sample)
        {
            lock (_lock)
            {
                List<SampleTrack> samples;
                if (!_requests.TryGetValue(requestId, out samples) || sample < 0 || sample >= samples.Count)
                {
                    return 0;
                }
                var track = samples[sample];
                return track.Final != null ? track.Final.FrameCount : track.PartialFrames;
            }
        }

        public void Remove(string requestId)
        {
            lock (_lock)
            {
                if (_requests.Remove(requestId))
                {
                    _version++;
                }
            }
        }

        public void Clear()
        {
            lock (_lock)
            {
                _requests.Clear();
                _version++;
            }
        }
    }
}
