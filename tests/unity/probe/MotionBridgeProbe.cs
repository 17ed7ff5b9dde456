// MotionBridge CI probe: a console program built from the package's Runtime sources that talks to a live daemon.
// tests/unity/test_live_daemon.py runs it and compares what it decoded with the Python client's result.
using System;
using System.Collections.Generic;
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
    /// Modes:
    ///   generate: handshake, one generate with previews and chunks (final motion written as little-endian float32
    ///             files per sample), then a second generate cancelled after its first progress.
    ///   reconnect: handshake, print WAITING_FOR_RESTART, wait for the daemon to go away and come back, then status.
    /// Prints key=value lines on stdout; exits 1 with the reason on stderr when anything is off.
    /// </summary>
    public static class Program
    {
        private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

        public static int Main(string[] args)
        {
            var options = Parse(args);
            try
            {
                using (var client = new MotionBridgeClient(new MotionBridgeClientOptions
                {
                    Url = new Uri(options["url"]),
                    Token = options.ContainsKey("token") ? options["token"] : "",
                    ClientName = "motionbridge-unity-probe/0.1.0",
                    Reconnect = new ReconnectPolicy { Initial = TimeSpan.FromMilliseconds(200), Max = TimeSpan.FromSeconds(1) },
                }))
                {
                    client.Start();
                    WaitForReady(client, 1);
                    var hello = client.Hello;
                    Console.WriteLine("hello=" + hello.Server + " model=" + hello.Model.Name + " session=" + hello.Session);
                    if (options["mode"] == "reconnect")
                    {
                        Reconnect(client);
                    }
                    else
                    {
                        Generate(client, options);
                        Cancel(client);
                    }
                }
                Console.WriteLine("probe=ok");
                return 0;
            }
            catch (Exception error)
            {
                Console.Error.WriteLine("probe failed: " + error);
                return 1;
            }
        }

        private static Dictionary<string, string> Parse(string[] args)
        {
            var options = new Dictionary<string, string> { { "mode", "generate" } };
            for (int i = 0; i + 1 < args.Length; i += 2)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new ArgumentException("expected --name value pairs, got " + args[i]);
                }
                options[args[i].Substring(2)] = args[i + 1];
            }
            return options;
        }

        private static void WaitForReady(MotionBridgeClient client, long connections)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (DateTime.UtcNow < deadline)
            {
                ClientEvent item;
                while (client.TryDequeue(out item))
                {
                    if (item.IsStateChange)
                    {
                        Console.WriteLine("state=" + item.State + " reason=" + item.Reason);
                        if (item.State == ConnectionState.Failed)
                        {
                            throw new InvalidOperationException("connection refused for good: " + item.Reason);
                        }
                    }
                }
                if (client.State == ConnectionState.Ready && client.Connections >= connections)
                {
                    return;
                }
                Thread.Sleep(5);
            }
            throw new TimeoutException("no ready from the daemon");
        }

        /// <summary>Drains events until one for the request ends it (done, error or status); returns them all.</summary>
        private static List<ServerMessage> Collect(MotionBridgeClient client, string id, Action<ServerMessage> onMessage)
        {
            var messages = new List<ServerMessage>();
            var deadline = DateTime.UtcNow + Patience;
            while (DateTime.UtcNow < deadline)
            {
                ClientEvent item;
                if (!client.TryDequeue(out item))
                {
                    Thread.Sleep(2);
                    continue;
                }
                if (item.IsStateChange || item.Message.Id != id)
                {
                    continue;
                }
                messages.Add(item.Message);
                if (onMessage != null)
                {
                    onMessage(item.Message);
                }
                if (item.Message is DoneMessage || item.Message is ErrorMessage || item.Message is StatusMessage)
                {
                    return messages;
                }
            }
            throw new TimeoutException("request " + id + " did not finish");
        }

        private static void Generate(MotionBridgeClient client, Dictionary<string, string> options)
        {
            var outDir = options["out"];
            Directory.CreateDirectory(outDir);
            var skeleton = new UnitySourceSkeleton(client.Hello.Skeleton, client.Hello.TargetJoints[ProtocolConstants.UnityTarget]);
            File.WriteAllBytes(Path.Combine(outDir, "rest_unity.f32"), LittleEndianFloats.ToBytes(skeleton.RestOffsets));
            var request = new GenerateRequest
            {
                Prompt = options["prompt"],
                Seconds = double.Parse(options["seconds"], CultureInfo.InvariantCulture),
                Seed = long.Parse(options["seed"], CultureInfo.InvariantCulture),
                Samples = int.Parse(options["samples"], CultureInfo.InvariantCulture),
                Steps = int.Parse(options["steps"], CultureInfo.InvariantCulture),
                PreviewEvery = 2,
                ChunkFrames = 16,
                Target = ProtocolConstants.UnityTarget,
            };
            var clock = System.Diagnostics.Stopwatch.StartNew();
            double firstPreviewMs = -1;
            string id = client.Generate(request);
            int progress = 0;
            int previews = 0;
            int chunks = 0;
            var messages = Collect(client, id, m =>
            {
                var motion = m as MotionMessage;
                if (m is ProgressMessage)
                {
                    progress++;
                }
                else if (motion != null && motion.Preview)
                {
                    if (previews == 0)
                    {
                        firstPreviewMs = clock.Elapsed.TotalMilliseconds;
                    }
                    previews++;
                }
                else if (motion != null)
                {
                    chunks++;
                }
            });
            var last = messages[messages.Count - 1];
            var error = last as ErrorMessage;
            if (error != null)
            {
                throw new InvalidOperationException("generate failed: " + error.Code + ": " + error.Message);
            }
            var done = (DoneMessage)last;
            if (!(messages[0] is AcceptedMessage))
            {
                throw new InvalidOperationException("the first reply was " + messages[0].Op + ", not accepted");
            }
            for (int sample = 0; sample < done.Samples; sample++)
            {
                var take = client.Frames.Final(id, sample);
                if (take == null || take.FrameCount != done.Frames)
                {
                    throw new InvalidOperationException("sample " + sample + " is incomplete");
                }
                File.WriteAllBytes(Path.Combine(outDir, "root_" + sample + ".f32"), LittleEndianFloats.ToBytes(take.Root));
                File.WriteAllBytes(Path.Combine(outDir, "rotations_" + sample + ".f32"), LittleEndianFloats.ToBytes(take.Rotations));
                File.WriteAllText(Path.Combine(outDir, "joints_" + sample + ".txt"), string.Join("\n", take.Joints));
                Console.WriteLine("sample=" + sample + " seed=" + take.Seed + " fps=" + take.Fps);
            }
            Console.WriteLine("job=" + done.Job);
            Console.WriteLine("frames=" + done.Frames + " samples=" + done.Samples + " cached=" + done.Cached);
            Console.WriteLine("progress=" + progress + " previews=" + previews + " chunks=" + chunks);
            Console.WriteLine("first_preview_ms=" + firstPreviewMs.ToString("0.0", CultureInfo.InvariantCulture)
                + " done_ms=" + clock.Elapsed.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)
                + " daemon_total_ms=" + done.Timings.TotalMs.ToString("0.0", CultureInfo.InvariantCulture));
        }

        private static void Cancel(MotionBridgeClient client)
        {
            var request = new GenerateRequest { Prompt = "a person dances for a long time", Seconds = 8, Seed = 99, Steps = 200 };
            string id = client.Generate(request);
            bool sent = false;
            var messages = Collect(client, id, m =>
            {
                if (!sent && (m is ProgressMessage || m is AcceptedMessage))
                {
                    client.Cancel(id);
                    sent = true;
                }
            });
            var error = messages[messages.Count - 1] as ErrorMessage;
            if (error == null || error.Code != ErrorCodes.Cancelled)
            {
                throw new InvalidOperationException("cancel did not end the request with error cancelled");
            }
            Console.WriteLine("cancel=ok");
        }

        private static void Reconnect(MotionBridgeClient client)
        {
            Console.WriteLine("WAITING_FOR_RESTART");
            Console.Out.Flush();
            WaitForReady(client, 2);
            string id = client.RequestStatus();
            var reply = Collect(client, id, null);
            var status = reply[reply.Count - 1] as StatusMessage;
            if (status == null)
            {
                throw new InvalidOperationException("no status reply after reconnecting");
            }
            Console.WriteLine("reconnected=ok connections=" + client.Connections + " model=" + status.Model);
        }
    }
}
