using Keyward.Core.Errors;
using Keyward.Core.Store;

namespace Keyward.Store.Contract;

/// <summary>How a <see cref="VersionState"/> is spelled in every store's <c>versions.state</c> column.</summary>
internal static class VersionStateText
{
    public static string Format(VersionState state) => state switch
    {
        VersionState.Staged => "staged",
        VersionState.Active => "active",
        VersionState.Previous => "previous",
        VersionState.Retired => "retired",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "unknown version state"),
    };

    public static VersionState Parse(string text) => text switch
    {
        "staged" => VersionState.Staged,
        "active" => VersionState.Active,
        "previous" => VersionState.Previous,
        "retired" => VersionState.Retired,
        _ => throw ErrorCodes.StoreCorrupt.Exception($"unknown version state '{text}' in the store"),
    };
}
