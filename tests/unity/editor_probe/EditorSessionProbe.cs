// MotionBridge CI probe: runs the package's Editor connection logic (MotionBridgeConnection, MotionBridgeState,
// MotionBridgePlayback's playhead) outside Unity, against a live daemon, by driving the editor update loop the way
// Unity does. UnityEngine/UnityEditor come from tests/unity/stubs; Mecanim itself is not exercised here.
using System;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using MotionBridge.Editor;
using UnityEditor;

namespace MotionBridge.Probe
{
    public static class EditorSessionProbe
    {
        private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

        public static int Main(string[] args)
        {
            try
            {
                Run(args[0]);
                Report("editor_probe", "ok");
                return 0;
            }
            catch (Exception error)
            {
                Console.Error.WriteLine("editor probe failed: " + error);
                return 1;
            }
        }

        private static void Run(string url)
        {
            var state = MotionBridgeState.instance;
            state.ServerUrl = url;
            // What [InitializeOnLoad] does when the editor loads the assembly.
            RuntimeHelpers.RunClassConstructor(typeof(MotionBridgeConnection).TypeHandle);
            EditorApplication.delayCall();
            PumpUntil(() => state.statusLine.StartsWith("connected to", StringComparison.Ordinal), "ready");
            Report("connected_status", state.statusLine);

            state.prompt = "  a person walks forward and waves  ";
            state.seconds = 2f;
            state.seed = 11;
            state.samples = 2;
            state.useModelSteps = false;
            state.steps = 6;
            state.previewEvery = 2;
            MotionBridgeConnection.Generate();
            if (!state.generating)
            {
                throw new InvalidOperationException("Generate did not start: " + state.statusLine);
            }
            PumpUntil(() => !state.generating, "done");
            Report("done_status", state.statusLine);
            Report("takes", state.takes.Count);
            Report("frames", state.takes[0].root.Length / 3);
            Report("seeds", state.takes[0].seed + "," + state.takes[1].seed);
            Report("progress", state.progress);
            Report("history", state.History[0]);
            Report("skeleton_joints", state.skeleton.joints.Length);
            Report("samples_shown", MotionBridgeConnection.SampleCount());
            Report("current_final", MotionBridgeConnection.CurrentTake(1).IsFinal);

            state.playing = true;
            state.loopPlayback = false;
            state.playTime = 0;
            var start = DateTime.UtcNow;
            PumpUntil(() => DateTime.UtcNow - start > TimeSpan.FromMilliseconds(300), "playback");
            Report("play_time", state.playTime.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture));
            Report("preview_problem", MotionBridgePlayback.Problem);

            state.steps = 200;
            state.seconds = 8f;
            MotionBridgeConnection.Generate();
            PumpUntil(() => state.statusLine.StartsWith("sampling", StringComparison.Ordinal), "first progress");
            MotionBridgeConnection.Cancel();
            PumpUntil(() => !state.generating, "cancel");
            Report("cancel_status", state.statusLine);
            Report("takes_after_cancel", state.takes.Count);

            // What Unity does right before a script reload.
            var reload = typeof(AssemblyReloadEvents).GetField("beforeAssemblyReload", BindingFlags.Static | BindingFlags.NonPublic);
            ((AssemblyReloadEvents.AssemblyReloadCallback)reload.GetValue(null))();
            Report("after_reload_client", MotionBridgeConnection.Client == null ? "closed" : "open");
            Report("want_connected", state.wantConnected);
        }

        private static void PumpUntil(Func<bool> done, string what)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!done())
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("waited for " + what + "; status: " + MotionBridgeState.instance.statusLine);
                }
                EditorApplication.update();
                Thread.Sleep(5);
            }
        }

        /// <summary>One `key=value` per line (values may hold spaces).</summary>
        private static void Report(string key, object value)
        {
            Console.WriteLine(key + "=" + Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
