// MotionBridge tests: the live ring buffer, real-time playback over it, and recording its last seconds.
using MotionBridge.MessagePack;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class LiveFrameRingTests
    {
        private const int Joints = 3;

        private static MotionMessage Chunk(int start, int count)
        {
            return (MotionMessage)ProtocolCodec.Decode(MessagePackWriter.Serialize(TestMessages.LiveMotion("l1", start, count)));
        }

        /// <summary>A ring fed frames 0 … frames−1 in chunks of <paramref name="chunk"/>; frame f's root x is f·10 within its chunk numbering.</summary>
        private static LiveFrameRing Fed(int capacity, int frames, int chunk)
        {
            var ring = new LiveFrameRing(capacity);
            for (int start = 0; start < frames; start += chunk)
            {
                ring.Append(Chunk(start, System.Math.Min(chunk, frames - start)));
            }
            return ring;
        }

        /// <summary>Root x of frame f when it was sent in a chunk starting at chunkStart (see TestMessages.Motion).</summary>
        private static float RootX(int frame, int chunkStart)
        {
            return chunkStart * 10 + 3 * (frame - chunkStart);
        }

        [Test]
        public void Frames_are_copied_out_as_they_were_sent()
        {
            var ring = Fed(16, 10, 4);
            var root = new float[3];
            var rotations = new float[Joints * 4];
            Assert.IsTrue(ring.CopyFrame(5, root, rotations));
            Assert.AreEqual(RootX(5, 4), root[0]);
            Assert.AreEqual(4 * 100 + (5 - 4) * Joints * 4 + 2, rotations[2]);
            Assert.AreEqual(10, ring.Received);
            Assert.AreEqual(30, ring.Fps);
            CollectionAssert.AreEqual(TestMessages.Joints, ring.Joints);
        }

        [Test]
        public void The_ring_keeps_only_the_newest_capacity_frames()
        {
            var ring = Fed(8, 20, 3);
            Assert.AreEqual(12, ring.Oldest);
            var root = new float[3];
            var rotations = new float[Joints * 4];
            Assert.IsFalse(ring.CopyFrame(11, root, rotations), "overwritten");
            Assert.IsTrue(ring.CopyFrame(12, root, rotations));
            Assert.AreEqual(RootX(12, 12), root[0]);
            Assert.IsTrue(ring.CopyFrame(19, root, rotations));
            Assert.AreEqual(RootX(19, 18), root[0]);
            Assert.IsFalse(ring.CopyFrame(20, root, rotations), "not received yet");
        }

        [Test]
        public void A_chunk_that_does_not_continue_the_stream_is_refused()
        {
            var ring = Fed(8, 6, 3);
            var error = Assert.Throws<ProtocolException>(() => ring.Append(Chunk(7, 2)));
            StringAssert.Contains("starts at frame 7 but 6", error.Message);
            Assert.AreEqual(6, ring.Received, "nothing of the refused chunk was kept");
        }

        [Test]
        public void Recording_takes_the_last_seconds_before_the_shown_frame()
        {
            var ring = Fed(300, 120, 7);
            var take = ring.TakeLast(1.0, 100, "l1", "j9", 4);
            Assert.AreEqual(30, take.FrameCount);
            Assert.AreEqual(RootX(70, 70), take.Root[0], "first recorded frame is 70");
            Assert.AreEqual(RootX(99, 98), take.Root[3 * 29], "last recorded frame is 99, the one before the end");
            Assert.IsTrue(take.IsFinal);
            Assert.AreEqual("j9", take.Job);
            Assert.AreEqual(30, take.Fps);
        }

        [Test]
        public void Recording_more_than_the_ring_holds_gives_what_it_holds()
        {
            var ring = Fed(40, 100, 10);
            var take = ring.TakeLast(10.0, 1000, "l1", null, 0);
            Assert.AreEqual(40, take.FrameCount, "frames 60 … 99");
            Assert.AreEqual(RootX(60, 60), take.Root[0]);
            Assert.IsNull(new LiveFrameRing(10).TakeLast(1.0, 5, "l1", null, 0), "nothing received: nothing to record");
        }

        [Test]
        public void Playback_starts_on_the_first_frame_and_follows_the_wall_clock()
        {
            var playhead = new LivePlayhead();
            Assert.AreEqual(-1, playhead.Advance(0.1, 0, 0, 30), "nothing received: nothing to show");
            Assert.AreEqual(0, playhead.Advance(0.5, 20, 0, 30), "the first frame shows at once");
            Assert.AreEqual(3, playhead.Advance(0.1, 20, 0, 30));
            Assert.AreEqual(6, playhead.Advance(0.1, 20, 0, 30));
        }

        [Test]
        public void A_starved_stream_holds_the_last_frame_and_resumes_without_a_jump()
        {
            var playhead = new LivePlayhead();
            playhead.Advance(0, 10, 0, 30);
            Assert.AreEqual(9, playhead.Advance(1.0, 10, 0, 30), "holds the newest frame");
            Assert.AreEqual(12, playhead.Advance(0.1, 40, 0, 30), "goes on from the held frame, not from 1 s later");
        }

        [Test]
        public void Playback_that_falls_far_behind_skips_to_near_live()
        {
            var playhead = new LivePlayhead { MaxLagSeconds = 1.0 };
            playhead.Advance(0, 10, 0, 30);
            Assert.AreEqual(169, playhead.Advance(0.1, 200, 0, 30), "200 received, at most 30 frames behind the newest");
            var patient = new LivePlayhead { MaxLagSeconds = 100 };
            patient.Advance(0, 10, 0, 30);
            Assert.AreEqual(250, patient.Advance(0.1, 300, 250, 30), "never behind what the ring still holds");
        }
    }
}
