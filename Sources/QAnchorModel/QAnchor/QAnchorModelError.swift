/// Errors of the Q-Anchor model layer: a bundle that does not hold together, or input the model cannot take.
/// Every case names the file, tensor, field or input it is about.
public enum QAnchorModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The manifest is unreadable or breaks a rule of the format.
    case manifest(BundleError)
    /// The bundle (manifest, a tokenizer, a weight file) is wrong.
    case bundle(file: String, problem: String)
    /// A heads tensor is missing, has the wrong shape, or is unexpected.
    case tensor(file: String, tensor: String, problem: String)
    /// A backbone or encoder failed to load.
    case component(path: String, underlying: String)
    /// The caller's input does not fit the model.
    case input(String)
    /// An unknown scenario id.
    case unknownScenario(String)

    public var description: String {
        switch self {
        case .manifest(let error): return error.description
        case .bundle(let file, let problem): return "\(file): \(problem)"
        case .tensor(let file, let tensor, let problem): return "\(file): tensor '\(tensor)': \(problem)"
        case .component(let path, let underlying): return "\(path): \(underlying)"
        case .input(let problem): return "input: \(problem)"
        case .unknownScenario(let id): return "unknown scenario '\(id)'"
        }
    }
}
