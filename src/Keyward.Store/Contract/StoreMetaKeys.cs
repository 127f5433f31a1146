namespace Keyward.Store.Contract;

/// <summary>Meta keys of the store (not secrets).</summary>
public static class StoreMetaKeys
{
    public const string StoreId = "store_id";
    /// <summary>The data key as a binary age file, decryptable with <c>age -d -i identity.txt</c>.</summary>
    public const string WrappedDataKey = "wrapped_data_key";
    /// <summary>Newline-separated public recipients the data key is wrapped to.</summary>
    public const string Recipients = "recipients";
    public const string KeyCheck = "key_check";
    public const string AuditHead = "audit_head";
    /// <summary>The MAC over version states, the ledger and the audit head (<see cref="Audit.StateSeal"/>).</summary>
    public const string StateSeal = "state_seal";
    public const string CreatedAt = "created_at";
}
