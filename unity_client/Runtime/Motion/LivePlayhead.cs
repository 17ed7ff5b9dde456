// MotionBridge for Unity: real-time playback position over a live stream.
using System;

namespace MotionBridge.Motion
{
    /// <summary>
    /// Where playback of a live stream stands. It starts on the first frame that arrives, advances with
    /// wall-clock time, and never runs ahead of what was received: when the stream starves it holds the last
    /// frame and resumes from there (a pause, not a jump). When it falls too far behind (a stalled editor) or
    /// behind what the ring still holds, it skips forward, so the avatar stays close to live.
    /// </summary>
    public sealed class LivePlayhead
    {
        public LivePlayhead()
        {
            Frame = -1;
            MaxLagSeconds = 1.5;
        }

        /// <summary>The frame to show; -1 before any arrived.</summary>
        public int Frame { get; private set; }

        /// <summary>Playback position in seconds since the session's first frame.</summary>
        public double Time { get; private set; }

        /// <summary>How far behind the newest received frame playback may fall before it skips forward.</summary>
        public double MaxLagSeconds { get; set; }

        /// <summary>Moves forward by a wall-clock delta over a stream of <paramref name="received"/> frames of which the ring holds from <paramref name="oldest"/> on.</summary>
        public int Advance(double deltaSeconds, int received, int oldest, int fps)
        {
            if (received <= 0 || fps <= 0)
            {
                return Frame;
            }
            double time = Frame < 0 ? 0 : Time + Math.Max(0, deltaSeconds);
            int frame = (int)Math.Floor(time * fps + 1e-9);
            int newest = received - 1;
            int lagLimit = newest - (int)Math.Floor(MaxLagSeconds * fps);
            int floor = Math.Max(oldest, lagLimit);
            if (frame > newest)
            {
                frame = newest;
                time = (double)frame / fps;
            }
            else if (frame < floor)
            {
                frame = Math.Min(floor, newest);
                time = (double)frame / fps;
            }
            Frame = frame;
            Time = time;
            return frame;
        }

        public void Reset()
        {
            Frame = -1;
            Time = 0;
        }
    }
}
