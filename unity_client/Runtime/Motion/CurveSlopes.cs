// MotionBridge for Unity: the key tangents of a curve sampled once per frame.
using System;

namespace MotionBridge.Motion
{
    /// <summary>
    /// Slopes (value per second) for keys sampled every 1/fps seconds: the central difference inside, the
    /// one-sided difference at both ends. Keys with zero tangents would make a baked curve stop at every frame
    /// (a velocity ripple at the frame rate); these tangents carry the motion's own velocity through each key,
    /// like Unity's Auto tangents on evenly spaced keys.
    /// </summary>
    public static class CurveSlopes
    {
        public static float[] Of(float[] values, float fps)
        {
            if (values == null)
            {
                throw new ArgumentNullException("values");
            }
            if (!(fps > 0))
            {
                throw new ArgumentOutOfRangeException("fps", "fps must be positive");
            }
            int count = values.Length;
            var slopes = new float[count];
            if (count < 2)
            {
                return slopes;
            }
            slopes[0] = (values[1] - values[0]) * fps;
            slopes[count - 1] = (values[count - 1] - values[count - 2]) * fps;
            for (int i = 1; i < count - 1; i++)
            {
                slopes[i] = (values[i + 1] - values[i - 1]) * fps * 0.5f;
            }
            return slopes;
        }
    }
}
