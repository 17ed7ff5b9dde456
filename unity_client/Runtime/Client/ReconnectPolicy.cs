// MotionBridge for Unity: how long to wait before each reconnection attempt.
using System;

namespace MotionBridge.Client
{
    /// <summary>
    /// Exponential backoff with jitter: attempt n (0-based) waits min(Max, Initial × Multiplier^n), shortened by up to
    /// <see cref="Jitter"/> of itself at random so many editors restarted together do not reconnect in lockstep.
    /// </summary>
    public sealed class ReconnectPolicy
    {
        public TimeSpan Initial = TimeSpan.FromSeconds(0.5);
        public TimeSpan Max = TimeSpan.FromSeconds(15);
        public double Multiplier = 2.0;

        /// <summary>Fraction (0..1) of each delay that may be taken off at random.</summary>
        public double Jitter = 0.2;

        public TimeSpan DelayFor(int attempt, Random random)
        {
            if (attempt < 0)
            {
                throw new ArgumentOutOfRangeException("attempt", "attempt counts from 0");
            }
            double ceiling = Initial.TotalMilliseconds * Math.Pow(Multiplier, Math.Min(attempt, 60));
            double delay = Math.Min(Max.TotalMilliseconds, ceiling);
            double jitter = Math.Max(0.0, Math.Min(1.0, Jitter));
            if (jitter > 0 && random != null)
            {
                delay -= delay * jitter * random.NextDouble();
            }
            return TimeSpan.FromMilliseconds(delay);
        }
    }
}
