// MotionBridge tests: scene waypoints expressed in the character's own space (the `unity` target's path).
using System;
using MotionBridge.Motion;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class ScenePathTests
    {
        /// <summary>Unity's Quaternion.Euler(0, degrees, 0) as (x, y, z, w).</summary>
        private static double[] YawQuaternion(double degrees)
        {
            double half = degrees * Math.PI / 360;
            return new[] { 0, Math.Sin(half), 0, Math.Cos(half) };
        }

        [Test]
        public void Yaw_reads_the_heading_of_a_rotation_about_up()
        {
            foreach (var degrees in new[] { 0.0, 30.0, 90.0, -135.0 })
            {
                var q = YawQuaternion(degrees);
                Assert.AreEqual(degrees * Math.PI / 180, ScenePath.Yaw(q[0], q[1], q[2], q[3]), 1e-12, degrees + "°");
            }
        }

        [Test]
        public void A_character_at_the_origin_facing_forward_leaves_points_as_they_are()
        {
            var point = ScenePath.Waypoint(2.0, 1.5, 3.0, null, 0, 0, 0);
            Assert.AreEqual(2.0, point.Time);
            CollectionAssert.AreEqual(new[] { 1.5, 0.0, 3.0 }, point.Position);
            Assert.IsNull(point.Facing);
        }

        [Test]
        public void Points_are_relative_to_where_the_character_stands_and_faces()
        {
            // The character stands at (1, 2) facing +X; a point 2 m further along +Z is on its left, which is −X
            // in its own (left-handed) space, and a point facing +Z is turned a quarter to the left.
            var point = ScenePath.Waypoint(1.0, 1.0, 4.0, 0.0, 1.0, 2.0, Math.PI / 2);
            Assert.AreEqual(-2.0, point.Position[0], 1e-12);
            Assert.AreEqual(0.0, point.Position[2], 1e-12);
            Assert.AreEqual(-Math.PI / 2, point.Facing.Value, 1e-12);
            var ahead = ScenePath.Waypoint(1.0, 4.0, 2.0, Math.PI / 2, 1.0, 2.0, Math.PI / 2);
            Assert.AreEqual(0.0, ahead.Position[0], 1e-12);
            Assert.AreEqual(3.0, ahead.Position[2], 1e-12);
            Assert.AreEqual(0.0, ahead.Facing.Value, 1e-12);
        }

        [Test]
        public void Facings_are_wrapped_into_a_half_turn_either_way()
        {
            var point = ScenePath.Waypoint(1.0, 0, 1, -170 * Math.PI / 180, 0, 0, 170 * Math.PI / 180);
            Assert.AreEqual(20 * Math.PI / 180, point.Facing.Value, 1e-12);
        }

        [Test]
        public void Even_times_end_on_the_last_frame()
        {
            CollectionAssert.AreEqual(new[] { 119 / 60.0, 119 / 30.0 }, ScenePath.EvenTimes(2, 120, 30));
            CollectionAssert.IsEmpty(ScenePath.EvenTimes(0, 120, 30));
        }
    }
}
