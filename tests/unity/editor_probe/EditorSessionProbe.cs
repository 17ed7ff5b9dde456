// MotionBridge CI probe: runs the package's Editor connection logic (MotionBridgeConnection, MotionBridgeState,
// MotionBridgePlayback's playhead) outside Unity, against a live daemon, by driving the editor update loop the way
// Unity does. UnityEngine/UnityEditor come from tests/unity/stubs; Mecanim itself is not exercised here.
using System;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using MotionBridge.Editor;
using UnityEditor;
using UnityEngine;

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

            Live(state);

            // What Unity does right before a script reload.
            var reload = typeof(AssemblyReloadEvents).GetField("beforeAssemblyReload", BindingFlags.Static | BindingFlags.NonPublic);
            ((AssemblyReloadEvents.AssemblyReloadCallback)reload.GetValue(null))();
            Report("after_reload_client", MotionBridgeConnection.Client == null ? "closed" : "open");
            Report("want_connected", state.wantConnected);
        }

        /// <summary>Live mode on a character: frames on it, a prompt change, Record, and its own pose back at Stop.</summary>
        private static void Live(MotionBridgeState state)
        {
            var character = new GameObject("Character");
            var animator = character.AddComponent<Animator>();
            var hips = new GameObject("CharacterHips").transform;
            hips.SetParent(character.transform, false);
            hips.localPosition = new Vector3(0f, 1f, 0f);
            animator.avatar = AvatarBuilder.BuildHumanAvatar(character,
                new HumanDescription { human = new[] { new HumanBone { boneName = "CharacterHips", humanName = "Hips" } } });
            state.target = animator;
            state.prompt = "a person walks in a circle";
            var unavailable = MotionBridgeLive.Unavailable();
            Report("live_unavailable", unavailable ?? "none");
            if (unavailable != null)
            {
                return;
            }
            MotionBridgeLive.Start();
            PumpUntil(() => MotionBridgePlayback.LiveFrame >= 30, "30 live frames on the character");
            var root = new float[3];
            var rotations = new float[22 * 4];
            MotionBridgeLive.Session.Frames.CopyFrame(MotionBridgePlayback.LiveFrame, root, rotations);
            Report("live_hips_follow_the_stream", hips.localPosition.x == root[0] && hips.localPosition.z == root[2]);
            state.prompt = "a person jumps";
            PumpUntil(() => MotionBridgeLive.Session.State != null, "live_state after the prompt edit");
            Report("live_state_prompt", MotionBridgeLive.Session.State.Prompt);
            state.recordSeconds = 1f;
            MotionBridgeLive.Record();
            Report("live_record_status", state.statusLine);
            MotionBridgeLive.Stop();
            Report("live_stopped_pose", hips.localPosition.x + "," + hips.localPosition.y + "," + hips.localPosition.z);
            Report("live_running", MotionBridgeLive.IsRunning);
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
