// MotionBridge for Unity: Window ▸ MotionBridge, the prompt-to-clip window.
using System;
using MotionBridge.Client;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>
    /// The window: connection, prompt and settings, Generate / Cancel with progress, the target Humanoid,
    /// variations, playback and baking. It only draws <see cref="MotionBridgeState"/> and calls
    /// <see cref="MotionBridgeConnection"/> / <see cref="MotionBridgePlayback"/>; closing it keeps the connection.
    /// </summary>
    public sealed class MotionBridgeWindow : EditorWindow
    {
        private Vector2 _scroll;

        [MenuItem("Window/MotionBridge")]
        public static void Open()
        {
            var window = GetWindow<MotionBridgeWindow>();
            window.titleContent = new GUIContent("MotionBridge");
            window.minSize = new Vector2(320, 420);
            window.Show();
        }

        private void OnEnable()
        {
            MotionBridgeConnection.Changed += Repaint;
            Selection.selectionChanged += OnSelectionChanged;
            OnSelectionChanged();
        }

        private void OnDisable()
        {
            MotionBridgeConnection.Changed -= Repaint;
            Selection.selectionChanged -= OnSelectionChanged;
        }

        /// <summary>Selecting a Humanoid in the scene makes it the preview target.</summary>
        private void OnSelectionChanged()
        {
            var selected = Selection.activeGameObject;
            if (selected == null)
            {
                return;
            }
            var animator = selected.GetComponentInParent<Animator>();
            if (animator != null && HumanoidPreview.Problem(animator) == null)
            {
                MotionBridgeState.instance.target = animator;
                Repaint();
            }
        }

        private void OnGUI()
        {
            var state = MotionBridgeState.instance;
            _scroll = EditorGUILayout.BeginScrollView(_scroll);
            DrawConnection(state);
            EditorGUILayout.Space();
            DrawPrompt(state);
            EditorGUILayout.Space();
            DrawResult(state);
            EditorGUILayout.EndScrollView();
        }

        private static void DrawConnection(MotionBridgeState state)
        {
            EditorGUILayout.LabelField("Daemon", EditorStyles.boldLabel);
            EditorGUI.BeginChangeCheck();
            string url = EditorGUILayout.TextField("Server URL", state.ServerUrl);
            string token = EditorGUILayout.PasswordField("Token", state.Token);
            if (EditorGUI.EndChangeCheck())
            {
                state.ServerUrl = url;
                state.Token = token;
            }
            var connection = MotionBridgeConnection.State;
            var hello = MotionBridgeConnection.Hello;
            string label = connection.ToString();
            if (connection == ConnectionState.Ready && hello != null)
            {
                label += " · " + hello.Model.Name + " on " + hello.Model.Device;
            }
            var client = MotionBridgeConnection.Client;
            if (connection == ConnectionState.Reconnecting && client != null && client.NextAttemptUtc.HasValue)
            {
                double wait = Math.Max(0, (client.NextAttemptUtc.Value - DateTime.UtcNow).TotalSeconds);
                label += " · next try in " + wait.ToString("0") + " s";
            }
            EditorGUILayout.LabelField("State", label);
            EditorGUILayout.BeginHorizontal();
            if (connection == ConnectionState.Disconnected || connection == ConnectionState.Failed)
            {
                if (GUILayout.Button("Connect"))
                {
                    MotionBridgeConnection.Connect();
                }
            }
            else if (GUILayout.Button("Disconnect"))
            {
                MotionBridgeConnection.Disconnect();
            }
            if (GUILayout.Button("Apply URL / token and reconnect"))
            {
                MotionBridgeConnection.Disconnect();
                MotionBridgeConnection.Connect();
            }
            EditorGUILayout.EndHorizontal();
        }

        private static void DrawPrompt(MotionBridgeState state)
        {
            EditorGUILayout.LabelField("Prompt", EditorStyles.boldLabel);
            state.prompt = EditorGUILayout.TextArea(state.prompt, GUILayout.MinHeight(48));
            var history = state.History;
            if (history.Length > 0)
            {
                int picked = EditorGUILayout.Popup("History", -1, history);
                if (picked >= 0)
                {
                    state.prompt = history[picked];
                    GUI.FocusControl(null);
                }
            }
            var hello = MotionBridgeConnection.Hello;
            float maxSeconds = hello != null ? (float)hello.Limits.MaxSeconds : 12f;
            int maxSamples = hello != null ? hello.Limits.MaxSamples : 8;
            int maxSteps = hello != null ? hello.Limits.MaxSteps : 200;
            state.seconds = EditorGUILayout.Slider("Seconds", state.seconds, 0.7f, maxSeconds);
            EditorGUILayout.BeginHorizontal();
            state.seed = Math.Max(0, EditorGUILayout.IntField("Seed", state.seed));
            if (GUILayout.Button("Random", GUILayout.Width(64)))
            {
                state.seed = new System.Random().Next(0, int.MaxValue);
                GUI.FocusControl(null);
            }
            EditorGUILayout.EndHorizontal();
            state.samples = EditorGUILayout.IntSlider("Variations", state.samples, 1, maxSamples);
            EditorGUILayout.BeginHorizontal();
            state.useModelSteps = EditorGUILayout.Toggle("Model's steps", state.useModelSteps);
            if (!state.useModelSteps)
            {
                state.steps = EditorGUILayout.IntSlider(state.steps, 1, maxSteps);
            }
            EditorGUILayout.EndHorizontal();
            EditorGUILayout.BeginHorizontal();
            state.useModelCfg = EditorGUILayout.Toggle("Model's CFG", state.useModelCfg);
            if (!state.useModelCfg)
            {
                state.cfg = EditorGUILayout.Slider(state.cfg, 0f, 20f);
            }
            EditorGUILayout.EndHorizontal();
            state.previewEvery = EditorGUILayout.IntSlider("Preview every n steps", state.previewEvery, 0, 50);
            state.loopMotion = EditorGUILayout.Toggle("Loopable motion", state.loopMotion);
            state.inPlace = EditorGUILayout.Toggle("In place", state.inPlace);

            EditorGUILayout.BeginHorizontal();
            using (new EditorGUI.DisabledScope(MotionBridgeConnection.State != ConnectionState.Ready || state.generating))
            {
                if (GUILayout.Button("Generate", GUILayout.Height(28)))
                {
                    MotionBridgeConnection.Generate();
                }
            }
            using (new EditorGUI.DisabledScope(!state.generating))
            {
                if (GUILayout.Button("Cancel", GUILayout.Height(28), GUILayout.Width(80)))
                {
                    MotionBridgeConnection.Cancel();
                }
            }
            EditorGUILayout.EndHorizontal();
            var bar = EditorGUILayout.GetControlRect(false, 18);
            EditorGUI.ProgressBar(bar, state.progress, state.generating ? Mathf.RoundToInt(state.progress * 100) + " %" : "");
            if (!string.IsNullOrEmpty(state.statusLine))
            {
                EditorGUILayout.HelpBox(state.statusLine, MessageType.None);
            }
        }

        private static void DrawResult(MotionBridgeState state)
        {
            EditorGUILayout.LabelField("Preview", EditorStyles.boldLabel);
            state.target = (Animator)EditorGUILayout.ObjectField("Humanoid", state.target, typeof(Animator), true);
            state.previewEnabled = EditorGUILayout.Toggle("Show on character", state.previewEnabled);
            if (!state.previewEnabled)
            {
                MotionBridgePlayback.Stop();
            }
            if (MotionBridgePlayback.Problem != null)
            {
                EditorGUILayout.HelpBox(MotionBridgePlayback.Problem, MessageType.Info);
            }
            int samples = MotionBridgeConnection.SampleCount();
            if (samples > 1)
            {
                var labels = new string[samples];
                for (int i = 0; i < samples; i++)
                {
                    labels[i] = "Variation " + (i + 1);
                }
                state.selectedSample = GUILayout.Toolbar(Math.Min(state.selectedSample, samples - 1), labels);
            }
            var take = MotionBridgeConnection.CurrentTake(state.selectedSample);
            if (take == null)
            {
                EditorGUILayout.LabelField(" ", "no motion yet");
                return;
            }
            EditorGUILayout.LabelField(" ", (take.IsFinal ? "final" : "preview of step " + take.PreviewStep) + " · "
                + take.FrameCount + " frames · seed " + take.Seed);
            EditorGUILayout.BeginHorizontal();
            if (GUILayout.Button(state.playing ? "Pause" : "Play", GUILayout.Width(64)))
            {
                if (!state.playing && state.playTime >= take.Duration)
                {
                    state.playTime = 0;
                }
                state.playing = !state.playing;
            }
            state.loopPlayback = GUILayout.Toggle(state.loopPlayback, "Loop", GUILayout.Width(56));
            EditorGUI.BeginChangeCheck();
            float time = EditorGUILayout.Slider((float)state.playTime, 0f, (float)take.Duration);
            if (EditorGUI.EndChangeCheck())
            {
                state.playing = false;
                MotionBridgePlayback.Scrub(time);
            }
            EditorGUILayout.EndHorizontal();

            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Bake", EditorStyles.boldLabel);
            EditorGUILayout.BeginHorizontal();
            state.bakeFolder = EditorGUILayout.TextField("Folder", state.bakeFolder);
            if (GUILayout.Button("…", GUILayout.Width(28)))
            {
                string picked = EditorUtility.OpenFolderPanel("Bake clips into", Application.dataPath, "");
                string relative = ProjectRelative(picked);
                if (relative != null)
                {
                    state.bakeFolder = relative;
                }
                else if (!string.IsNullOrEmpty(picked))
                {
                    EditorUtility.DisplayDialog("MotionBridge", "Pick a folder inside this project's Assets folder.", "OK");
                }
            }
            EditorGUILayout.EndHorizontal();
            using (new EditorGUI.DisabledScope(!take.IsFinal))
            {
                if (GUILayout.Button(take.IsFinal ? "Bake to AnimationClip" : "Bake (waiting for the final motion)"))
                {
                    Bake(state, take);
                }
            }
        }

        private static void Bake(MotionBridgeState state, MotionTake take)
        {
            try
            {
                string name = ClipNames.FromPrompt(state.prompt, take.Seed);
                string path = MotionBridgePlayback.Bake(take, state.bakeFolder, name, state.loopMotion);
                state.statusLine = "baked " + path;
                EditorGUIUtility.PingObject(AssetDatabase.LoadAssetAtPath<AnimationClip>(path));
            }
            catch (Exception error)
            {
                state.statusLine = "bake failed: " + error.Message;
                Debug.LogException(error);
            }
        }

        /// <summary>"Assets/…" for a folder inside this project's Assets, else null.</summary>
        private static string ProjectRelative(string absolute)
        {
            if (string.IsNullOrEmpty(absolute))
            {
                return null;
            }
            string assets = Application.dataPath.Replace('\\', '/');
            string path = absolute.Replace('\\', '/');
            if (path == assets)
            {
                return "Assets";
            }
            return path.StartsWith(assets + "/", StringComparison.Ordinal) ? "Assets" + path.Substring(assets.Length) : null;
        }
    }
}
