// MotionBridge tests: assembling previews and final chunks across threads.
using System;
using System.Threading;
using MotionBridge.MessagePack;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class MotionFrameBufferTests
    {
        private static MotionMessage Chunk(string id, int sample, bool preview, bool final, int start, int count, int total)
        {
            return (MotionMessage)ProtocolCodec.Decode(
                MessagePackWriter.Serialize(TestMessages.Motion(id, sample, preview, final, start, count, total)));
        }

        [Test]
        public void Final_chunks_assemble_in_order_into_one_take()
        {
            var buffer = new MotionFrameBuffer();
            buffer.Add(Chunk("r1", 0, false, false, 0, 2, 5));
            Assert.IsNull(buffer.Final("r1", 0));
            Assert.AreEqual(2, buffer.FinalFramesReceived("r1", 0));
            buffer.Add(Chunk("r1", 0, false, true, 2, 3, 5));
            var take = buffer.Final("r1", 0);
            Assert.IsNotNull(take);
            Assert.IsTrue(take.IsFinal);
            Assert.AreEqual(5, take.FrameCount);
            Assert.AreEqual(3, take.JointCount);
            Assert.AreEqual(5f, take.Root[5]);
            Assert.AreEqual(20f, take.Root[6]);
            Assert.AreEqual(200f, take.Rotations[take.RotationOffset(2, 0)]);
            Assert.AreEqual(7, take.Seed);
            Assert.AreEqual(5.0 / 30.0, take.Duration, 1e-12);
        }

        [Test]
        public void A_newer_preview_replaces_the_older_and_final_replaces_previews()
        {
            var buffer = new MotionFrameBuffer();
            long before = buffer.Version;
            buffer.Add(Chunk("r1", 0, true, false, 0, 4, 4));
            Assert.Greater(buffer.Version, before);
            var first = buffer.Latest("r1", 0);
            Assert.IsFalse(first.IsFinal);
            Assert.AreEqual(10, first.PreviewStep);
            buffer.Add(Chunk("r1", 0, true, false, 0, 4, 4));
            Assert.AreNotSame(first, buffer.Latest("r1", 0));
            buffer.Add(Chunk("r1", 0, false, true, 0, 4, 4));
            Assert.IsTrue(buffer.Latest("r1", 0).IsFinal);
            buffer.Add(Chunk("r1", 0, true, false, 0, 4, 4));
            Assert.IsTrue(buffer.Latest("r1", 0).IsFinal, "a late preview must not hide the final motion");
        }

        [Test]
        public void Samples_are_kept_apart()
        {
            var buffer = new MotionFrameBuffer();
            buffer.Add(Chunk("r1", 1, false, true, 0, 2, 2));
            Assert.AreEqual(2, buffer.SampleCount("r1"));
            Assert.IsNull(buffer.Latest("r1", 0));
            Assert.IsNotNull(buffer.Latest("r1", 1));
            Assert.AreEqual(0, buffer.SampleCount("other"));
            buffer.Remove("r1");
            Assert.IsNull(buffer.Latest("r1", 1));
        }

        [Test]
        public void A_gap_between_chunks_is_a_protocol_error()
        {
            var buffer = new MotionFrameBuffer();
            buffer.Add(Chunk("r1", 0, false, false, 0, 2, 6));
            var error = Assert.Throws<ProtocolException>(() => buffer.Add(Chunk("r1", 0, false, true, 4, 2, 6)));
            StringAssert.Contains("starts at frame 4", error.Message);
        }

        [Test]
        public void A_replay_from_frame_zero_restarts_the_sample()
        {
            var buffer = new MotionFrameBuffer();
            buffer.Add(Chunk("r1", 0, false, false, 0, 2, 4));
            buffer.Add(Chunk("r1", 0, false, false, 0, 2, 4));
            buffer.Add(Chunk("r1", 0, false, true, 2, 2, 4));
            Assert.AreEqual(4, buffer.Final("r1", 0).FrameCount);
        }

        [Test]
        public void Readers_on_other_threads_only_ever_see_whole_takes()
        {
            var buffer = new MotionFrameBuffer();
            const int requests = 200;
            var writer = new Thread(() =>
            {
                for (int r = 0; r < requests; r++)
                {
                    buffer.Add(Chunk("r" + r, 0, true, false, 0, 3, 3));
                    buffer.Add(Chunk("r" + r, 0, false, false, 0, 1, 3));
                    buffer.Add(Chunk("r" + r, 0, false, true, 1, 2, 3));
                }
            });
            int seen = 0;
            string failure = null;
            var reader = new Thread(() =>
            {
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (seen < requests && DateTime.UtcNow < deadline)
                {
                    var take = buffer.Latest("r" + seen, 0);
                    if (take == null)
                    {
                        continue;
                    }
                    if (take.FrameCount != 3 || take.Rotations.Length != 3 * 3 * 4)
                    {
                        failure = "torn take for r" + seen;
                        return;
                    }
                    if (take.IsFinal)
                    {
                        seen++;
                    }
                }
            });
            writer.Start();
            reader.Start();
            writer.Join();
            reader.Join();
            Assert.IsNull(failure);
            Assert.AreEqual(requests, seen);
        }

        [Test]
        public void Absurd_totals_are_refused()
        {
            var message = Chunk("r1", 0, false, true, 0, 2, 2);
            message.Total = MotionFrameBuffer.MaxFrames + 1;
            Assert.Throws<ProtocolException>(() => new MotionFrameBuffer().Add(message));
        }
    }
}
