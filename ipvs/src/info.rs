//! Module information returned by GET_INFO.

/// Version and connection-table size of the running IPVS module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// `IP_VS_VERSION_CODE`, e.g. 0x010201 for 1.2.1.
    pub version: u32,
    /// Number of buckets of the connection hash table.
    pub conn_tab_size: u32,
}

impl Info {
    /// (major, minor, patch) of [`Info::version`].
    pub fn version_triple(&self) -> (u8, u8, u8) {
        let [_, major, minor, patch] = self.version.to_be_bytes();
        (major, minor, patch)
    }
}
