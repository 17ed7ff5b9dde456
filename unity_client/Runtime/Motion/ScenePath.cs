// MotionBridge for Unity: scene positions and headings turned into a root path of the `unity` target.
using System;
using MotionBridge.Protocol;

namespace MotionBridge.Motion
{
    /// <summary>
    /// The motion plays in the character's own space: the preview and a baked clip with root motion start from
    /// where the character stands and the way it faces. So a waypoint given as a scene object is expressed
    /// relative to the character: its offset on the ground turned by the character's heading, and its heading
    /// minus the character's. Unity's scene convention is the `unity` target's (metres, Y up, left-handed, +Z
    /// forward; a positive yaw turns +Z towards +X), so nothing else is converted.
    /// </summary>
    public static class ScenePath
    {
        /// <summary>The heading (radians about +Y, 0 = +Z) of a rotation given as a Unity quaternion (x, y, z, w).</summary>
        public static double Yaw(double x, double y, double z, double w)
        {
            // The rotated +Z axis, projected on the ground.
            double forwardX = 2 * (x * z + w * y);
            double forwardZ = 1 - 2 * (x * x + y * y);
            return Math.Atan2(forwardX, forwardZ);
        }

        /// <summary>An angle wrapped into (−π, π].</summary>
        public static double Wrap(double radians)
        {
            double wrapped = Math.IEEERemainder(radians, 2 * Math.PI);
            return wrapped <= -Math.PI ? wrapped + 2 * Math.PI : wrapped;
        }

        /// <summary>
        /// A waypoint at scene position (x, z) for time <paramref name="time"/>, relative to a character at
        /// (originX, originZ) facing <paramref name="originYaw"/>; <paramref name="yaw"/> (radians) becomes its
        /// `facing`, or null to leave the heading free. The up component goes out as 0: the daemon ignores it.
        /// </summary>
        public static PathPoint Waypoint(double time, double x, double z, double? yaw, double originX, double originZ, double originYaw)
        {
            double dx = x - originX;
            double dz = z - originZ;
            double cos = Math.Cos(originYaw);
            double sin = Math.Sin(originYaw);
            double localX = cos * dx - sin * dz;
            double localZ = sin * dx + cos * dz;
            double? facing = yaw.HasValue ? Wrap(yaw.Value - originYaw) : (double?)null;
            return new PathPoint(time, localX, 0.0, localZ, facing);
        }

        /// <summary>
        /// Times for <paramref name="count"/> waypoints spread over a clip of <paramref name="frames"/> frames: point i of
        /// n at (i + 1) / n of the last frame's time (a time past the last frame lies outside the clip).
        /// </summary>
        public static double[] EvenTimes(int count, int frames, int fps)
        {
            var times = new double[Math.Max(0, count)];
            double last = Math.Max(0, frames - 1) / (double)fps;
            for (int i = 0; i < times.Length; i++)
            {
                times[i] = last * (i + 1) / times.Length;
            }
            return times;
        }
    }
}
