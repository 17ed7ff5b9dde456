// Stand-ins for the UnityEditor API the MotionBridge editor code uses, so mcs can type-check it without Unity.
// Signatures follow Unity 2021.3's public API. Bodies are placeholders, except the pieces of editor plumbing that
// tests/unity/editor_probe and editor_tests drive (singleton, prefs, update loop, clock, events sent to a window,
// curves stored in a clip, scene-save and play-mode callbacks), which behave like the editor's. UnityStandIn
// at the end is how those tests play the editor's part; the package never names it.
using System;
using System.Collections.Generic;
using System.Reflection;
using UnityEngine;
using UnityEngine.SceneManagement;
using Object = UnityEngine.Object;

namespace UnityEditor
{
    [AttributeUsage(AttributeTargets.Class)]
    public class InitializeOnLoadAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class MenuItem : Attribute
    {
        public MenuItem(string itemName) { }
        public MenuItem(string itemName, bool isValidateFunction, int priority) { }
    }

    public class ScriptableSingleton<T> : ScriptableObject where T : ScriptableObject
    {
        private static T s_Instance;

        public static T instance
        {
            get
            {
                if (ReferenceEquals(s_Instance, null))
                {
                    s_Instance = (T)Activator.CreateInstance(typeof(T));
                }
                return s_Instance;
            }
        }
    }

    public class EditorWindow : ScriptableObject
    {
        public GUIContent titleContent { get; set; }
        public Vector2 minSize { get; set; }
        public static T GetWindow<T>() where T : EditorWindow { return null; }
        public static T GetWindow<T>(string title) where T : EditorWindow { return null; }
        public static bool HasOpenInstances<T>() where T : EditorWindow { return true; }
        public void Show() { }
        public void Close() { }
        public void Repaint() { }

        /// <summary>Like the editor's event dispatch: makes the event current and runs the window's OnGUI with it.</summary>
        public bool SendEvent(Event e)
        {
            Event.current = e;
            LayoutCache.BeginEvent(e);
            var onGui = GetType().GetMethod("OnGUI", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
            try
            {
                onGui.Invoke(this, null);
            }
            catch (TargetInvocationException error)
            {
                throw error.InnerException;
            }
            finally
            {
                Event.current = null;
            }
            return true;
        }
    }

    public static class EditorPrefs
    {
        private static readonly System.Collections.Generic.Dictionary<string, string> Values =
            new System.Collections.Generic.Dictionary<string, string>();

        public static string GetString(string key, string defaultValue)
        {
            string value;
            return Values.TryGetValue(key, out value) ? value : defaultValue;
        }

        public static void SetString(string key, string value) { Values[key] = value; }
    }

    public static class SessionState
    {
        private static readonly System.Collections.Generic.Dictionary<string, string> Values =
            new System.Collections.Generic.Dictionary<string, string>();

        public static string GetString(string key, string defaultValue)
        {
            string value;
            return Values.TryGetValue(key, out value) ? value : defaultValue;
        }

        public static void SetString(string key, string value) { Values[key] = value; }
    }

    public static class AssemblyReloadEvents
    {
        public delegate void AssemblyReloadCallback();

        public static event AssemblyReloadCallback beforeAssemblyReload;
        public static event AssemblyReloadCallback afterAssemblyReload;

        internal static void RaiseBeforeAssemblyReload()
        {
            var handler = beforeAssemblyReload;
            if (handler != null)
            {
                handler();
            }
        }

    }

    public enum PlayModeStateChange
    {
        EnteredEditMode,
        ExitingEditMode,
        EnteredPlayMode,
        ExitingPlayMode,
    }

    public sealed class EditorApplication
    {
        public delegate void CallbackFunction();

        public static CallbackFunction update;
        public static CallbackFunction delayCall;

        public static event Action quitting;
        public static event Action<PlayModeStateChange> playModeStateChanged;

        internal static void RaisePlayModeStateChanged(PlayModeStateChange change)
        {
            var handler = playModeStateChanged;
            if (handler != null)
            {
                handler(change);
            }
        }

        private static readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();

        public static double timeSinceStartup { get { return Clock.Elapsed.TotalSeconds; } }
        public static bool isPlayingOrWillChangePlaymode { get { return false; } }
        public static bool isCompiling { get { return false; } }

        public static void QueuePlayerLoopUpdate() { }
    }

    public sealed class Selection
    {
        public static Action selectionChanged;
        public static GameObject activeGameObject { get { return null; } set { } }
        public static Transform activeTransform { get { return null; } set { } }
        public static Object activeObject { get { return null; } set { } }
    }

    public enum MessageType
    {
        None,
        Info,
        Warning,
        Error,
    }

    public sealed class EditorStyles
    {
        public static GUIStyle boldLabel { get { return null; } }
    }

    public class EditorGUI
    {
        public static void BeginChangeCheck() { }
        public static bool EndChangeCheck() { return false; }
        public static void ProgressBar(Rect position, float value, string text) { }

        public struct DisabledScope : IDisposable
        {
            public DisabledScope(bool disabled) { }
            public void Dispose() { }
        }
    }

    public class EditorGUILayout
    {
        public static Vector2 BeginScrollView(Vector2 scrollPosition, params GUILayoutOption[] options) { LayoutCache.Control(); return scrollPosition; }
        public static void EndScrollView() { LayoutCache.Control(); }
        public static void BeginHorizontal(params GUILayoutOption[] options) { LayoutCache.Control(); }
        public static void EndHorizontal() { LayoutCache.Control(); }
        public static void Space() { LayoutCache.Control(); }
        public static void LabelField(string label, params GUILayoutOption[] options) { LayoutCache.Control(); }
        public static void LabelField(string label, GUIStyle style, params GUILayoutOption[] options) { LayoutCache.Control(); }
        public static void LabelField(string label, string label2, params GUILayoutOption[] options) { LayoutCache.Control(); }
        public static string TextField(string label, string text, params GUILayoutOption[] options) { LayoutCache.Control(); return text; }
        public static string TextField(string text, params GUILayoutOption[] options) { LayoutCache.Control(); return text; }
        public static float FloatField(string label, float value, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static float FloatField(float value, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static Enum EnumPopup(string label, Enum selected, params GUILayoutOption[] options) { LayoutCache.Control(); return selected; }
        public static string PasswordField(string label, string password, params GUILayoutOption[] options) { LayoutCache.Control(); return password; }
        public static string TextArea(string text, params GUILayoutOption[] options) { LayoutCache.Control(); return text; }
        public static int Popup(string label, int selectedIndex, string[] displayedOptions, params GUILayoutOption[] options) { LayoutCache.Control(); return selectedIndex; }
        public static float Slider(string label, float value, float leftValue, float rightValue, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static float Slider(float value, float leftValue, float rightValue, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static int IntField(string label, int value, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static int IntSlider(string label, int value, int leftValue, int rightValue, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static int IntSlider(int value, int leftValue, int rightValue, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static bool Toggle(string label, bool value, params GUILayoutOption[] options) { LayoutCache.Control(); return value; }
        public static Rect GetControlRect(bool hasLabel, float height, params GUILayoutOption[] options) { LayoutCache.Control(); return new Rect(); }
        public static void HelpBox(string message, MessageType type) { LayoutCache.Control(); }
        public static Object ObjectField(string label, Object obj, Type objType, bool allowSceneObjects, params GUILayoutOption[] options) { LayoutCache.Control(); return obj; }
    }

    public sealed class EditorGUIUtility
    {
        public static void PingObject(Object obj) { }
    }

    public sealed class EditorUtility
    {
        public static GameObject CreateGameObjectWithHideFlags(string name, HideFlags flags, params Type[] components)
        {
            var gameObject = new GameObject(name) { hideFlags = flags };
            if (components.Length > 0)
            {
                throw new NotSupportedException("the stand-in adds no components here");
            }
            return gameObject;
        }
        public static string OpenFolderPanel(string title, string folder, string defaultName) { return ""; }
        public static bool DisplayDialog(string title, string message, string ok) { return true; }
        public static void SetDirty(Object target) { }
    }

    public sealed class AssetDatabase
    {
        public static string GenerateUniqueAssetPath(string path) { return path; }
        public static void CreateAsset(Object asset, string path) { }
        public static void SaveAssets() { }
        /// <summary>Stand-in: only the project's Assets folder exists.</summary>
        public static bool IsValidFolder(string path) { return path == "Assets"; }
        public static string CreateFolder(string parentFolder, string newFolderName) { return ""; }
        public static T LoadAssetAtPath<T>(string assetPath) where T : Object { return null; }

        /// <summary>Stand-in: true when started as Unity starts its import workers (-name AssetImportWorkerN).</summary>
        public static bool IsAssetImportWorkerProcess()
        {
            var args = Environment.GetCommandLineArgs();
            int name = Array.IndexOf(args, "-name");
            return name >= 0 && name + 1 < args.Length && args[name + 1].StartsWith("AssetImportWorker", StringComparison.Ordinal);
        }
    }

    public sealed class AnimationClipSettings
    {
        public bool loopTime;
        public bool loopBlend;
        public bool loopBlendOrientation;
        public bool loopBlendPositionY;
        public bool loopBlendPositionXZ;
        public bool keepOriginalOrientation;
        public bool keepOriginalPositionY;
        public bool keepOriginalPositionXZ;
        public bool heightFromFeet;
        public bool mirror;
        public float startTime;
        public float stopTime;
    }

    public struct EditorCurveBinding
    {
        public string path;
        public Type type;
        public string propertyName;
        public static EditorCurveBinding FloatCurve(string inPath, Type inType, string inPropertyName)
        {
            return new EditorCurveBinding { path = inPath, type = inType, propertyName = inPropertyName };
        }
    }

    public class AnimationUtility
    {
        public static AnimationClipSettings GetAnimationClipSettings(AnimationClip clip) { return new AnimationClipSettings(); }
        public static void SetAnimationClipSettings(AnimationClip clip, AnimationClipSettings srcClipInfo) { }

        public static void SetEditorCurve(AnimationClip clip, EditorCurveBinding binding, AnimationCurve curve)
        {
            clip.curves[binding.path + "/" + binding.propertyName] = curve;
        }

        public static void SetEditorCurves(AnimationClip clip, EditorCurveBinding[] bindings, AnimationCurve[] curves)
        {
            if (bindings.Length != curves.Length)
            {
                throw new InvalidOperationException("bindings and curves must be of equal length");
            }
            for (int i = 0; i < bindings.Length; i++)
            {
                SetEditorCurve(clip, bindings[i], curves[i]);
            }
        }

        public static AnimationCurve GetEditorCurve(AnimationClip clip, EditorCurveBinding binding)
        {
            AnimationCurve curve;
            return clip.curves.TryGetValue(binding.path + "/" + binding.propertyName, out curve) ? curve : null;
        }

        public static EditorCurveBinding[] GetCurveBindings(AnimationClip clip)
        {
            var bindings = new List<EditorCurveBinding>();
            foreach (var key in clip.curves.Keys)
            {
                int slash = key.IndexOf('/');
                bindings.Add(EditorCurveBinding.FloatCurve(key.Substring(0, slash), typeof(Animator), key.Substring(slash + 1)));
            }
            return bindings.ToArray();
        }
    }

    public class SceneView : EditorWindow
    {
        public static void RepaintAll() { }
    }
}

namespace UnityEditor.SceneManagement
{
    public sealed class EditorSceneManager
    {
        public delegate void SceneSavingCallback(Scene scene, string path);

        public static event SceneSavingCallback sceneSaving;

        internal static void RaiseSceneSaving(Scene scene, string path)
        {
            var handler = sceneSaving;
            if (handler != null)
            {
                handler(scene, path);
            }
        }
    }
}

namespace UnityStandIn
{
    /// <summary>What the editor does around the package, for tests to replay: never called by package code.</summary>
    public static class EditorActions
    {
        /// <summary>Unity's domain load: every [InitializeOnLoad] class's static constructor, in the given assembly.</summary>
        public static void RunInitializeOnLoad(Assembly assembly)
        {
            foreach (var type in assembly.GetTypes())
            {
                if (type.GetCustomAttributes(typeof(UnityEditor.InitializeOnLoadAttribute), false).Length > 0)
                {
                    System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(type.TypeHandle);
                }
            }
        }

        /// <summary>File ▸ Save: the sceneSaving callbacks run before the scene is written.</summary>
        public static void SaveScene(string path)
        {
            UnityEditor.SceneManagement.EditorSceneManager.RaiseSceneSaving(new Scene(), path);
        }

        /// <summary>A script recompile: beforeAssemblyReload runs while the old domain is still there.</summary>
        public static void BeforeAssemblyReload()
        {
            UnityEditor.AssemblyReloadEvents.RaiseBeforeAssemblyReload();
        }

        public static void ChangePlayMode(UnityEditor.PlayModeStateChange change)
        {
            UnityEditor.EditorApplication.RaisePlayModeStateChanged(change);
        }

        /// <summary>One editor frame's EditorApplication.update.</summary>
        public static void Update()
        {
            var update = UnityEditor.EditorApplication.update;
            if (update != null)
            {
                update();
            }
        }
    }
}
