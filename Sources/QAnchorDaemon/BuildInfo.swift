/// What this binary is: qanchor's version, the git commit it was built from (`-dirty` when the checkout had
/// uncommitted changes, `unknown` outside git) and when that commit was first built (UTC). Shown by
/// `qanchor --version`, `GET /v1/info` and the `qanchor_build_info` metric.
public enum BuildInfo {
    /// The release version (docs/CHANGELOG.md).
    public static let version = "0.3.0"
    public static let commit = GeneratedBuildInfo.commit
    public static let date = GeneratedBuildInfo.date

    /// `qanchor 0.3.0 (commit 1a2b3c4d5e6f, built 2026-12-04T23:30:00Z)`.
    public static var description: String { "qanchor \(version) (commit \(commit), built \(date))" }
}
