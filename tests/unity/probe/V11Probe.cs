// MotionBridge CI probe: protocol v1.1 (directing and live mode) with the package's Runtime against a real daemon.
// tests/unity/test_live_daemon.py runs it and checks what it prints and writes.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Threading;
using MotionBridge.Client;
using MotionBridge.MessagePack;
using MotionBridge.Motion;
using MotionBridge.Protocol;

namespace MotionBridge.Probe
{
    /// <summary>
    /// Modes (argument 2):
    ///   directing: a clip, its continuation by job id, its continuation from its last frames, and a 2-segment
    ///              timeline along a root path; the takes are written as little-endian float32 files.
    ///   live: a live session (frames timed as they arrive), a second live_start on the same connection, a prompt
    ///         change, live_stop; the stream's frames are written.
    /// Prints key=value lines; exits 1 with the reason on stderr when anything is off.
    /// </summary>
    public static class V11Probe
    {
        private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

        public static int Main(string[] args)
        {
            try
            {
                string url = args[0];
                string mode = args[1];
                string output = args[2];
                Directory.CreateDirectory(output);
                using (var client = new MotionBridgeClient(new MotionBridgeClientOptions
                {
                    Url = new Uri(url),
                    ClientName = "motionbridge-unity-v11-probe/0.2.0",
                }))
                {
                    client.Start();
                    Until(() => client.State == ConnectionState.Ready, "ready");
                    Report("capabilities", string.Join(",", client.Hello.Capabilities));
                    Report("max_keys", client.Hello.Limits.MaxKeys);
                    if (mode == "live")
                    {
                        Live(client, output);
                    }
                    else
                    {
                        Directing(client, output);
                    }
                }
                Report("v11_probe", "ok");
                return 0;
            }
            catch (Exception error)
            {
                Console.Error.WriteLine("v11 probe failed: " + error);
                return 1;
            }
        }

        private static void Report(string key, object value)
        {
            Console.WriteLine(key + "=" + Convert.ToString(value, CultureInfo.InvariantCulture));
        }

        private static void Until(Func<bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("waited for " + what);
                }
                Thread.Sleep(2);
            }
        }

        /// <summary>Drains events until the request ends; its done, or an exception naming the error.</summary>
        private static DoneMessage Finish(MotionBridgeClient client, string id)
        {
            DoneMessage done = null;
            Until(() =>
            {
                ClientEvent item;
                while (client.TryDequeue(out item))
                {
                    if (item.IsStateChange || item.Message.Id != id)
                    {
                        continue;
                    }
                    var error = item.Message as ErrorMessage;
                    if (error != null)
                    {
                        throw new InvalidOperationException(id + " failed: " + error.Code + ": " + error.Message);
                    }
                    if (item.Message is DoneMessage)
                    {
                        done = (DoneMessage)item.Message;
                        return true;
                    }
                }
                return false;
            }, "done of " + id);
            return done;
        }

        private static MotionTake Run(MotionBridgeClient client, GenerateRequest request, out DoneMessage done)
        {
            string id = client.Generate(request);
            done = Finish(client, id);
            return client.Frames.Final(id, 0);
        }

        private static void Write(string folder, string name, MotionTake take)
        {
            File.WriteAllBytes(Path.Combine(folder, name + "_root.f32"), LittleEndianFloats.ToBytes(take.Root));
            File.WriteAllBytes(Path.Combine(folder, name + "_rotations.f32"), LittleEndianFloats.ToBytes(take.Rotations));
        }

        private static void Directing(MotionBridgeClient client, string output)
        {
            DoneMessage done;
            var first = Run(client, new GenerateRequest { Prompt = "a person walks forward", Seconds = 2, Seed = 1, Steps = 4 }, out done);
            Write(output, "first", first);
            var byJob = Run(client, new GenerateRequest
            {
                Prompt = "a person keeps walking", Seconds = 2, Seed = 2, Steps = 4, Start = StartMotion.FromJob(done.Job, 0),
            }, out done);
            Write(output, "by_job", byJob);
            int last = first.FrameCount - 3;
            var root = new float[9];
            var rotations = new float[3 * first.JointCount * 4];
            Array.Copy(first.Root, 3 * last, root, 0, 9);
            Array.Copy(first.Rotations, first.RotationOffset(last, 0), rotations, 0, rotations.Length);
            var byFrames = Run(client, new GenerateRequest
            {
                Prompt = "a person keeps walking", Seconds = 2, Seed = 2, Steps = 4, Start = StartMotion.FromFrames(root, rotations, 3),
            }, out done);
            Write(output, "by_frames", byFrames);
            var timeline = Run(client, new GenerateRequest
            {
                Seed = 3,
                Steps = 4,
                Segments = new List<TimelineSegment> { new TimelineSegment("a person walks", 1.0), new TimelineSegment("a person jumps", 1.5) },
                Path = new List<PathPoint> { ScenePath.Waypoint(1.5, 0.5, 1.0, null, 0, 0, 0) },
            }, out done);
            Write(output, "timeline", timeline);
            var spans = new List<string>();
            foreach (var span in done.Segments)
            {
                spans.Add(span.Start + "+" + span.Count);
            }
            Report("timeline_frames", timeline.FrameCount);
            Report("timeline_segments", string.Join(",", spans.ToArray()));
        }

        private static void Live(MotionBridgeClient client, string output)
        {
            var clock = Stopwatch.StartNew();
            var session = client.StartLive(new LiveRequest { Prompt = "a person walks in a circle", Seed = 4, BufferMs = 300, Area = 1.0 });
            double firstAt = -1;
            double sixtyAt = -1;
            session.FramesReceived += (s, start, count) =>
            {
                if (start == 0)
                {
                    firstAt = clock.Elapsed.TotalSeconds;
                }
                if (start < 60 && start + count >= 60)
                {
                    sixtyAt = clock.Elapsed.TotalSeconds;
                }
            };
            Until(() => session.Frames.Received >= 60 || !session.IsRunning, "60 live frames");
            if (!session.IsRunning)
            {
                throw new InvalidOperationException("the live session ended early: " + (session.Error != null ? session.Error.Message : "done"));
            }
            Report("live_job", session.Job);
            Report("first_frame_s", firstAt.ToString("0.000", CultureInfo.InvariantCulture));
            Report("frames_1_to_60_s", (sixtyAt - firstAt).ToString("0.000", CultureInfo.InvariantCulture));

            var second = client.StartLive(new LiveRequest { Prompt = "a person runs" });
            Until(() => !second.IsRunning, "the answer to a second live_start");
            Report("second_live", second.Error != null ? second.Error.Code : "done");

            int before = session.Frames.Received;
            session.ChangePrompt("a person jumps on the spot");
            Until(() => session.State != null, "live_state");
            Report("state_prompt", session.State.Prompt);
            Report("state_frame", session.State.Frame);
            Report("frames_before_prompt", before);
            Until(() => session.Frames.Received >= session.State.Frame + 30, "30 frames of the new prompt");

            session.Stop();
            Until(() => !session.IsRunning, "done of the live session");
            if (session.Error != null)
            {
                throw new InvalidOperationException("live ended with " + session.Error.Code + ": " + session.Error.Message);
            }
            Report("done_frames", session.Done.Frames);
            Report("received", session.Frames.Received);
            var all = session.Frames.TakeLast(1e6, session.Frames.Received, session.Id, session.Job, session.Seed);
            Report("kept", all.FrameCount);
            Write(output, "live", all);
        }
    }
}
