import Foundation
import Hummingbird
import LumenService

/// `GET /v1/models` and `GET /v1/models/{id}` in OpenAI's list shape, with Lumen's extra fields:
/// unavailable models are listed with the reason, so the Image Creator can grey them out.
struct ModelsController {
    typealias Context = LumenRequestContext
    let state: ServerState

    func addRoutes(to router: Router<Context>) {
        router.get("/v1/models") { request, context in
            let region = state.region(request, context: context)
            return try jsonResponse(ModelList(data: state.catalog.models.map { object($0, region: region) }))
        }
        router.get("/v1/models/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard let info = state.catalog.info(id) else {
                throw APIError.modelNotFound("The model '\(id.prefix(100))' does not exist.")
            }
            return try jsonResponse(object(info, region: state.region(request, context: context)))
        }
        router.get("/v1/lumen/styles") { _, _ in try jsonResponse(["data": StylePreset.all]) }
    }

    struct ModelList: Encodable {
        var object = "list"
        var data: [ModelObject]
    }

    /// A model as the caller sees it: withheld in the caller's region means unavailable, with the reason.
    func object(_ info: ModelInfo, region: String?) -> ModelObject {
        let withheld = info.available ? state.configuration.regionPolicy.withholding(model: info.id, region: region) : nil
        return ModelObject(id: info.id, created: Int(state.startedAt.timeIntervalSince1970), owned_by: info.builtIn ? "lumen" : "local",
                    available: info.available && withheld == nil, reason: info.reason ?? withheld, withheld_in_region: withheld != nil, built_in: info.builtIn, is_default: info.id == state.catalog.defaultModelID,
                    sizes: info.sizes, default_size: "\(info.defaultWidth)x\(info.defaultHeight)",
                    default_steps: info.defaultSteps, default_guidance: info.defaultGuidance)
    }
}
