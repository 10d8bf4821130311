import Foundation
import Hummingbird

/// The Image Creator (one HTML page, one script, one style sheet: no build step) and the
/// OpenAPI document, read once from the target's resources.
struct WebController {
    typealias Context = LumenRequestContext
    let assets: [String: (Data, String)]

    /// Loads the assets; a missing one is a start-up error naming the file.
    init() throws {
        guard let base = Self.resourceFolder else {
            throw APIError(.internalServerError, "the server's resource bundle is missing", type: "server_error")
        }
        var assets: [String: (Data, String)] = [:]
        for (route, file, type) in [
            ("/", "web/index.html", "text/html; charset=utf-8"),
            ("/app.js", "web/app.js", "text/javascript; charset=utf-8"),
            ("/app.css", "web/app.css", "text/css; charset=utf-8"),
            ("/openapi.yaml", "openapi.yaml", "application/yaml; charset=utf-8"),
        ] {
            guard let data = FileManager.default.contents(atPath: base.appendingPathComponent(file).path) else {
                throw APIError(.internalServerError, "the server's resource \(file) is missing from \(base.path)", type: "server_error")
            }
            assets[route] = (data, type)
        }
        self.assets = assets
    }

    /// The copied `Resources` folder of this target.
    static var resourceFolder: URL? { Bundle.module.url(forResource: "Resources", withExtension: nil) }

    func addRoutes(to router: Router<Context>) {
        for (route, asset) in assets {
            let (data, type) = asset
            router.get(RouterPath(route)) { _, _ in
                Response(status: .ok, headers: [
                    .contentType: type, .cacheControl: "no-cache", .xContentTypeOptions: "nosniff",
                    .contentSecurityPolicy: "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'",
                ], body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
            }
        }
        router.get("/healthz") { _, _ in try jsonResponse(["status": "ok"]) }
    }
}
