// MotionBridge for Unity: play / pause / loop / scrub over a take, independent of the editor's frame rate.
using System;

namespace MotionBridge.Motion
{
    /// <summary>
    /// A playback position in seconds. The editor advances it with wall-clock deltas, so playback keeps real
    /// speed even when an unfocused editor updates only a few times per second.
    /// </summary>
    public sealed class MotionPlayhead
    {
        public double Time { get; private set; }

        public bool Playing { get; set; }

        public bool Loop { get; set; }

        public MotionPlayhead()
        {
            Playing = true;
            Loop = true;
        }

        /// <summary>Moves forward by a wall-clock delta; at the end it wraps (Loop) or stops on the last frame.</summary>
        public void Advance(double deltaSeconds, double duration)
        {
            if (!Playing || duration <= 0 || deltaSeconds <= 0)
            {
                return;
            }
            double time = Time + deltaSeconds;
            if (time >= duration)
            {
                if (Loop)
                {
                    time %= duration;
                }
                else
                {
                    time = duration;
                    Playing = false;
                }
            }
            Time = time;
        }

        public void Scrub(double seconds, double duration)
        {
            Time = Math.Max(0.0, Math.Min(seconds, Math.Max(0.0, duration)));
        }

        public void Rewind()
        {
            Time = 0;
        }

        /// <summary>The frame shown at the current time: floor(time × fps), clamped to the take.</summary>
        public int Frame(int fps, int frameCount)
        {
            if (frameCount <= 0)
            {
                return 0;
            }
            int frame = (int)Math.Floor(Time * fps + 1e-9);
            return Math.Max(0, Math.Min(frameCount - 1, frame));
        }
    }
}
