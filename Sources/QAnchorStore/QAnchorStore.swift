// QAnchorStore: the rolling per-user buffer in LMDB. See docs/store.md.
import CLMDB
