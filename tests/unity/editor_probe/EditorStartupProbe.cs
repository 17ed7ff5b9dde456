// MotionBridge CI probe: one editor start-up per process, as Unity's domain load does it, against a scripted
// loopback daemon. Each run is one scenario: after a domain reload (with the state as Unity's serializer brings it
// back), in a batch-mode editor (-batchmode) or in an asset import worker (-name AssetImportWorker0).
using System;
using System.Reflection;
using System.Threading;
using MotionBridge.Client;
using MotionBridge.Editor;
using MotionBridge.Tests;
using UnityEditor;
using UnityStandIn;

namespace MotionBridge.Probe
{
    public static class EditorStartupProbe
    {
        private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

        public static int Main(string[] args)
        {
            try
            {
                Run(args[0]);
                Report("startup_probe", "ok");
                return 0;
            }
            catch (Exception error)
            {
                Console.Error.WriteLine("startup probe failed: " + error);
                return 1;
            }
        }

        private static void Run(string scenario)
        {
            string fetchedJob = null;
            using (var daemon = new LoopbackWebSocketServer(c =>
            {
                c.Handshake("none");
                var request = c.Receive();
                object op;
                object id;
                object job;
                if (request != null && request.TryGetValue("op", out op) && (string)op == "fetch")
                {
                    request.TryGetValue("id", out id);
                    request.TryGetValue("job", out job);
                    fetchedJob = (string)job;
                    c.Send(TestMessages.Motion((string)id, 0, false, true, 0, 3, 3));
                    c.Send(TestMessages.Done((string)id, 3));
                    c.Receive();
                }
            }))
            {
                var state = MotionBridgeState.instance;
                state.ServerUrl = daemon.Url.ToString();
                if (scenario == "reload-before-accepted" || scenario == "reload-after-accepted")
                {
                    // The reload interrupted a request: still generating, accepted (job j1) or not (no job).
                    state.generating = true;
                    state.activeRequestId = "u-old-1";
                    state.activeJob = scenario == "reload-after-accepted" ? "j1" : null;
                    SerializerRoundTrip(state);
                }
                EditorActions.RunInitializeOnLoad(typeof(MotionBridgeConnection).Assembly);
                var delayCall = EditorApplication.delayCall;
                EditorApplication.delayCall = null;
                if (delayCall != null)
                {
                    delayCall();
                }
                if (scenario.StartsWith("reload", StringComparison.Ordinal))
                {
                    UpdateUntil(() => !state.generating);
                    Report("status", state.statusLine);
                    Report("fetched_job", fetchedJob ?? "none");
                    Report("takes", state.takes.Count);
                }
                else
                {
                    // Long enough for a connection to be made, had the window started one.
                    var until = DateTime.UtcNow + TimeSpan.FromMilliseconds(300);
                    UpdateUntil(() => DateTime.UtcNow > until);
                    if (MotionBridgeConnection.Client != null)
                    {
                        UpdateUntil(() => MotionBridgeConnection.State != ConnectionState.Connecting);
                    }
                    Report("client", MotionBridgeConnection.Client == null ? "none" : MotionBridgeConnection.State.ToString());
                    Report("daemon_connections", daemon.Accepted);
                }
            }
        }

        /// <summary>What Unity's serializer does to the singleton across a domain reload: a null string comes back "".</summary>
        private static void SerializerRoundTrip(object state)
        {
            foreach (var field in state.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public))
            {
                if (field.FieldType == typeof(string) && field.GetValue(state) == null)
                {
                    field.SetValue(state, "");
                }
            }
        }

        private static void UpdateUntil(Func<bool> done)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!done())
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("status: " + MotionBridgeState.instance.statusLine);
                }
                EditorActions.Update();
                Thread.Sleep(5);
            }
        }

        private static void Report(string key, object value)
        {
            Console.WriteLine(key + "=" + Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
