// Stand-ins for the UnityEditor API the MotionBridge editor code uses, so mcs can type-check it without Unity.
// Signatures follow Unity 2021.3's public API. Bodies are placeholders, except the few pieces of editor plumbing
// that tests/unity/editor_probe drives (singleton, prefs, update loop, clock), which behave like the editor's.
using System;
using UnityEngine;
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

    }

    public sealed class EditorApplication
    {
        public delegate void CallbackFunction();

        public static CallbackFunction update;
        public static CallbackFunction delayCall;

        public static event Action quitting;

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
        public static Vector2 BeginScrollView(Vector2 scrollPosition, params GUILayoutOption[] options) { return scrollPosition; }
        public static void EndScrollView() { }
        public static void BeginHorizontal(params GUILayoutOption[] options) { }
        public static void EndHorizontal() { }
        public static void Space() { }
        public static void LabelField(string label, params GUILayoutOption[] options) { }
        public static void LabelField(string label, GUIStyle style, params GUILayoutOption[] options) { }
        public static void LabelField(string label, string label2, params GUILayoutOption[] options) { }
        public static string TextField(string label, string text, params GUILayoutOption[] options) { return text; }
        public static string PasswordField(string label, string password, params GUILayoutOption[] options) { return password; }
        public static string TextArea(string text, params GUILayoutOption[] options) { return text; }
        public static int Popup(string label, int selectedIndex, string[] displayedOptions, params GUILayoutOption[] options) { return selectedIndex; }
        public static float Slider(string label, float value, float leftValue, float rightValue, params GUILayoutOption[] options) { return value; }
        public static float Slider(float value, float leftValue, float rightValue, params GUILayoutOption[] options) { return value; }
        public static int IntField(string label, int value, params GUILayoutOption[] options) { return value; }
        public static int IntSlider(string label, int value, int leftValue, int rightValue, params GUILayoutOption[] options) { return value; }
        public static int IntSlider(int value, int leftValue, int rightValue, params GUILayoutOption[] options) { return value; }
        public static bool Toggle(string label, bool value, params GUILayoutOption[] options) { return value; }
        public static Rect GetControlRect(bool hasLabel, float height, params GUILayoutOption[] options) { return new Rect(); }
        public static void HelpBox(string message, MessageType type) { }
        public static Object ObjectField(string label, Object obj, Type objType, bool allowSceneObjects, params GUILayoutOption[] options) { return obj; }
    }

    public sealed class EditorGUIUtility
    {
        public static void PingObject(Object obj) { }
    }

    public sealed class EditorUtility
    {
        public static GameObject CreateGameObjectWithHideFlags(string name, HideFlags flags, params Type[] components) { return null; }
        public static string OpenFolderPanel(string title, string folder, string defaultName) { return ""; }
        public static bool DisplayDialog(string title, string message, string ok) { return true; }
        public static void SetDirty(Object target) { }
    }

    public sealed class AssetDatabase
    {
        public static string GenerateUniqueAssetPath(string path) { return path; }
        public static void CreateAsset(Object asset, string path) { }
        public static void SaveAssets() { }
        public static bool IsValidFolder(string path) { return false; }
        public static string CreateFolder(string parentFolder, string newFolderName) { return ""; }
        public static T LoadAssetAtPath<T>(string assetPath) where T : Object { return null; }
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
        public static EditorCurveBinding FloatCurve(string inPath, Type inType, string inPropertyName) { return new EditorCurveBinding(); }
    }

    public class AnimationUtility
    {
        public static AnimationClipSettings GetAnimationClipSettings(AnimationClip clip) { return new AnimationClipSettings(); }
        public static void SetAnimationClipSettings(AnimationClip clip, AnimationClipSettings srcClipInfo) { }
        public static void SetEditorCurve(AnimationClip clip, EditorCurveBinding binding, AnimationCurve curve) { }
    }

    public class SceneView : EditorWindow
    {
        public static void RepaintAll() { }
    }
}
