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
        /// <summary>
        /// Everything that decides which controls a frame draws, read once per frame at the Layout event. IMGUI
        /// draws a frame in several passes (Layout, then Repaint or the input event) that must draw the same
        /// controls, and the receive thread changes the connection state and the frame buffer at any moment.
        /// </summary>
        private sealed class View
        {
            public ConnectionState Connection;
            public string ConnectionLabel;
            public float MaxSeconds;
            public int MaxSamples;
            public int MaxSteps;
            public string[] History;
            public string Status;
            public string PreviewProblem;
            public int Samples;
            public MotionTake Take;
            public int Fps;
            public string ConstraintsProblem;
            public string TimelineProblem;
            public bool LiveRunning;
            public string LiveProblem;
            public string LiveText;
            public SegmentRow[] Segments;

            public static View Read(MotionBridgeState state)
            {
                var connection = MotionBridgeConnection.State;
                var hello = MotionBridgeConnection.Hello;
                string label = connection.ToString();
                if (connection == ConnectionState.Ready && hello != null)
                {
                    label += " · " + hello.Model.Name + " on " + hello.Model.Device;
                }
                var client = MotionBridgeConnection.Client;
                var nextAttempt = client == null ? null : client.NextAttemptUtc;
                if (connection == ConnectionState.Reconnecting && nextAttempt.HasValue)
                {
                    double wait = Math.Max(0, (nextAttempt.Value - DateTime.UtcNow).TotalSeconds);
                    label += " · next try in " + wait.ToString("0") + " s";
                }
                return new View
                {
                    Connection = connection,
                    ConnectionLabel = label,
                    MaxSeconds = hello != null ? (float)hello.Limits.MaxSeconds : 12f,
                    MaxSamples = hello != null ? hello.Limits.MaxSamples : 8,
                    MaxSteps = hello != null ? hello.Limits.MaxSteps : 200,
                    History = state.History,
                    Status = state.statusLine,
                    PreviewProblem = MotionBridgePlayback.Problem,
                    Samples = MotionBridgeConnection.SampleCount(),
                    Take = MotionBridgeConnection.CurrentTake(state.selectedSample),
                    Fps = hello != null ? hello.Model.Fps : 30,
                    ConstraintsProblem = MotionBridgeDirecting.Unavailable(hello, Capabilities.Constraints),
                    TimelineProblem = MotionBridgeDirecting.Unavailable(hello, Capabilities.Timeline),
                    LiveRunning = MotionBridgeLive.IsRunning,
                    LiveProblem = MotionBridgeLive.Unavailable(),
                    LiveText = MotionBridgeLive.Describe(),
                    Segments = state.segments.ToArray(),
                };
            }
        }

        private Vector2 _scroll;
        private View _view;

        /// <summary>A change to the timeline or path rows, made after the frame is drawn so a pass never loses a row it is drawing.</summary>
        private Action _afterDraw;

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
            if (_view == null || Event.current.type == EventType.Layout)
            {
                _view = View.Read(state);
            }
            var view = _view;
            _scroll = EditorGUILayout.BeginScrollView(_scroll);
            DrawConnection(state, view);
            EditorGUILayout.Space();
            DrawPrompt(state, view);
            EditorGUILayout.Space();
            DrawDirecting(state, view);
            EditorGUILayout.Space();
            DrawLive(state, view);
            EditorGUILayout.Space();
            DrawResult(state, view);
            EditorGUILayout.EndScrollView();
            if (_afterDraw != null)
            {
                var change = _afterDraw;
                _afterDraw = null;
                change();
                Repaint();
            }
        }

        private static void DrawConnection(MotionBridgeState state, View view)
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
            EditorGUILayout.LabelField("State", view.ConnectionLabel);
            EditorGUILayout.BeginHorizontal();
            if (view.Connection == ConnectionState.Disconnected || view.Connection == ConnectionState.Failed)
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

        private static void DrawPrompt(MotionBridgeState state, View view)
        {
            EditorGUILayout.LabelField("Prompt", EditorStyles.boldLabel);
            state.prompt = EditorGUILayout.TextArea(state.prompt, GUILayout.MinHeight(48));
            var history = view.History;
            if (history.Length > 0)
            {
                int picked = EditorGUILayout.Popup("History", -1, history);
                if (picked >= 0)
                {
                    state.prompt = history[picked];
                    GUI.FocusControl(null);
                }
            }
            state.seconds = EditorGUILayout.Slider("Seconds", state.seconds, 0.7f, view.MaxSeconds);
            EditorGUILayout.BeginHorizontal();
            state.seed = Math.Max(0, EditorGUILayout.IntField("Seed", state.seed));
            if (GUILayout.Button("Random", GUILayout.Width(64)))
            {
                state.seed = new System.Random().Next(0, int.MaxValue);
                GUI.FocusControl(null);
            }
            EditorGUILayout.EndHorizontal();
            state.samples = EditorGUILayout.IntSlider("Variations", state.samples, 1, view.MaxSamples);
            EditorGUILayout.BeginHorizontal();
            state.useModelSteps = EditorGUILayout.Toggle("Model's steps", state.useModelSteps);
            if (!state.useModelSteps)
            {
                state.steps = EditorGUILayout.IntSlider(state.steps, 1, view.MaxSteps);
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
            using (new EditorGUI.DisabledScope(view.Connection != ConnectionState.Ready || state.generating || view.LiveRunning))
            {
                if (GUILayout.Button(view.LiveRunning ? "Generate (turn Live off first)" : "Generate", GUILayout.Height(28)))
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
            if (!string.IsNullOrEmpty(view.Status))
            {
                EditorGUILayout.HelpBox(view.Status, MessageType.None);
            }
        }

        private void DrawDirecting(MotionBridgeState state, View view)
        {
            EditorGUILayout.LabelField("Directing", EditorStyles.boldLabel);
            using (new EditorGUI.DisabledScope(view.ConstraintsProblem != null))
            {
                state.continueFrom = (ContinueFrom)EditorGUILayout.EnumPopup("Continue from", state.continueFrom);
                if (state.continueFrom == ContinueFrom.Clip)
                {
                    state.continueClip = (AnimationClip)EditorGUILayout.ObjectField("Clip", state.continueClip, typeof(AnimationClip), false);
                }
            }
            if (view.ConstraintsProblem != null)
            {
                EditorGUILayout.HelpBox("Continue from and Root path: " + view.ConstraintsProblem, MessageType.Info);
            }
            DrawTimeline(state, view);
            DrawPath(state, view);
        }

        private void DrawTimeline(MotionBridgeState state, View view)
        {
            using (new EditorGUI.DisabledScope(view.TimelineProblem != null))
            {
                state.useTimeline = EditorGUILayout.Toggle("Timeline", state.useTimeline);
                if (!state.useTimeline)
                {
                    return;
                }
                var rows = state.timeline;
                double total = 0;
                for (int i = 0; i < rows.Count; i++)
                {
                    int row = i;
                    EditorGUILayout.BeginHorizontal();
                    rows[i].prompt = EditorGUILayout.TextField(rows[i].prompt);
                    rows[i].seconds = Math.Max(0.1f, EditorGUILayout.FloatField(rows[i].seconds, GUILayout.Width(44)));
                    total += rows[i].seconds;
                    if (GUILayout.Button("▲", GUILayout.Width(22)) && row > 0)
                    {
                        _afterDraw = () => Swap(state.timeline, row, row - 1);
                    }
                    if (GUILayout.Button("▼", GUILayout.Width(22)) && row < rows.Count - 1)
                    {
                        _afterDraw = () => Swap(state.timeline, row, row + 1);
                    }
                    if (GUILayout.Button("✕", GUILayout.Width(22)))
                    {
                        _afterDraw = () => state.timeline.RemoveAt(row);
                    }
                    EditorGUILayout.EndHorizontal();
                }
                EditorGUILayout.BeginHorizontal();
                if (GUILayout.Button("Add segment", GUILayout.Width(110)))
                {
                    _afterDraw = () => state.timeline.Add(new TimelineRow { prompt = state.timeline.Count == 0 ? state.prompt : "" });
                }
                EditorGUILayout.LabelField(total.ToString("0.0") + " s of at most " + view.MaxSeconds.ToString("0.#")
                    + " s; replaces Prompt and Seconds");
                EditorGUILayout.EndHorizontal();
            }
            if (view.TimelineProblem != null)
            {
                EditorGUILayout.HelpBox("Timeline: " + view.TimelineProblem, MessageType.Info);
            }
        }

        private void DrawPath(MotionBridgeState state, View view)
        {
            using (new EditorGUI.DisabledScope(view.ConstraintsProblem != null))
            {
                state.usePath = EditorGUILayout.Toggle("Root path", state.usePath);
                if (!state.usePath)
                {
                    return;
                }
                var rows = state.path;
                for (int i = 0; i < rows.Count; i++)
                {
                    int row = i;
                    EditorGUILayout.BeginHorizontal();
                    rows[i].point = (Transform)EditorGUILayout.ObjectField("Point " + (i + 1), rows[i].point, typeof(Transform), true);
                    rows[i].time = Math.Max(0f, EditorGUILayout.FloatField(rows[i].time, GUILayout.Width(44)));
                    rows[i].facing = GUILayout.Toggle(rows[i].facing, "face", GUILayout.Width(48));
                    if (GUILayout.Button("✕", GUILayout.Width(22)))
                    {
                        _afterDraw = () => state.path.RemoveAt(row);
                    }
                    EditorGUILayout.EndHorizontal();
                }
                EditorGUILayout.BeginHorizontal();
                if (GUILayout.Button("Add point", GUILayout.Width(110)))
                {
                    _afterDraw = () => state.path.Add(new PathRow { point = Selection.activeTransform });
                }
                if (GUILayout.Button("Spread times", GUILayout.Width(110)))
                {
                    double seconds = ClipSecondsOf(state);
                    int fps = view.Fps;
                    _afterDraw = () => MotionBridgeDirecting.SpreadPathTimes(state, seconds, fps);
                }
                EditorGUILayout.EndHorizontal();
                EditorGUILayout.LabelField(" ", "seconds from the clip's start; positions and \"face\" relative to the Humanoid");
            }
        }

        private static double ClipSecondsOf(MotionBridgeState state)
        {
            if (!state.useTimeline || state.timeline.Count == 0)
            {
                return state.seconds;
            }
            double total = 0;
            foreach (var row in state.timeline)
            {
                total += row.seconds;
            }
            return total;
        }

        private static void Swap<T>(System.Collections.Generic.List<T> list, int a, int b)
        {
            var item = list[a];
            list[a] = list[b];
            list[b] = item;
        }

        private static void DrawLive(MotionBridgeState state, View view)
        {
            EditorGUILayout.LabelField("Live", EditorStyles.boldLabel);
            using (new EditorGUI.DisabledScope(!view.LiveRunning && view.LiveProblem != null))
            {
                bool on = EditorGUILayout.Toggle("Live", view.LiveRunning);
                if (on && !view.LiveRunning)
                {
                    MotionBridgeLive.Start();
                }
                else if (!on && view.LiveRunning)
                {
                    MotionBridgeLive.Stop();
                }
            }
            if (!view.LiveRunning && view.LiveProblem != null)
            {
                EditorGUILayout.HelpBox("Live: " + view.LiveProblem, MessageType.Info);
            }
            using (new EditorGUI.DisabledScope(view.LiveRunning))
            {
                state.liveArea = Math.Max(0f, EditorGUILayout.FloatField("Area radius (m, 0 = any)", state.liveArea));
            }
            EditorGUILayout.BeginHorizontal();
            state.recordSeconds = EditorGUILayout.Slider("Record last (s)", state.recordSeconds, 1f, MotionBridgeLive.MaxRecordSeconds);
            using (new EditorGUI.DisabledScope(!view.LiveRunning))
            {
                if (GUILayout.Button("Record", GUILayout.Width(64)))
                {
                    RecordLive(state);
                }
            }
            EditorGUILayout.EndHorizontal();
            if (view.LiveText != null)
            {
                EditorGUILayout.LabelField(" ", view.LiveText);
            }
        }

        private static void RecordLive(MotionBridgeState state)
        {
            try
            {
                string path = MotionBridgeLive.Record();
                EditorGUIUtility.PingObject(AssetDatabase.LoadAssetAtPath<AnimationClip>(path));
            }
            catch (InvalidOperationException error)
            {
                state.statusLine = "record: " + error.Message;
            }
            catch (Exception error)
            {
                state.statusLine = "record failed: " + error.Message;
                Debug.LogException(error);
            }
        }

        private static void DrawSegments(MotionBridgeState state, SegmentRow[] segments, MotionTake take)
        {
            if (segments.Length == 0)
            {
                return;
            }
            EditorGUILayout.BeginHorizontal();
            EditorGUILayout.LabelField("Segments", GUILayout.Width(70));
            for (int i = 0; i < segments.Length; i++)
            {
                var segment = segments[i];
                double from = (double)segment.start / take.Fps;
                double to = (double)(segment.start + segment.count) / take.Fps;
                // A button per boundary: the place to check a join is where the next prompt takes over.
                if (GUILayout.Button((i + 1) + ": " + from.ToString("0.0") + "–" + to.ToString("0.0") + " s"))
                {
                    state.playing = false;
                    MotionBridgePlayback.Scrub(from);
                }
            }
            EditorGUILayout.EndHorizontal();
        }

        private static void DrawResult(MotionBridgeState state, View view)
        {
            EditorGUILayout.LabelField("Preview", EditorStyles.boldLabel);
            state.target = (Animator)EditorGUILayout.ObjectField("Humanoid", state.target, typeof(Animator), true);
            state.previewEnabled = EditorGUILayout.Toggle("Show on character", state.previewEnabled);
            if (!state.previewEnabled)
            {
                MotionBridgePlayback.Stop();
            }
            if (view.PreviewProblem != null)
            {
                EditorGUILayout.HelpBox(view.PreviewProblem, MessageType.Info);
            }
            int samples = view.Samples;
            if (samples > 1)
            {
                var labels = new string[samples];
                for (int i = 0; i < samples; i++)
                {
                    labels[i] = "Variation " + (i + 1);
                }
                state.selectedSample = GUILayout.Toolbar(Math.Min(state.selectedSample, samples - 1), labels);
            }
            var take = view.Take;
            if (take == null)
            {
                EditorGUILayout.LabelField(" ", "no motion yet");
                return;
            }
            EditorGUILayout.LabelField(" ", (take.IsFinal ? "final" : "preview of step " + take.PreviewStep) + " · "
                + take.FrameCount + " frames · seed " + take.Seed);
            DrawSegments(state, view.Segments, take);
            EditorGUILayout.BeginHorizontal();
            if (GUILayout.Button(state.playing ? "Pause" : "Play", GUILayout.Width(64)))
            {
                if (!state.playing && state.playTime >= take.Duration)
                {
                    state.playTime = 0;
                }
                state.playing = !state.playing;
                MotionBridgePlayback.ResumeTake();
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
