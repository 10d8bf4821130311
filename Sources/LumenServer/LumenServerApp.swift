import Foundation
import Hummingbird
import HummingbirdAuth
import Logging
import LumenProvenance
import LumenService
import ServiceLifecycle
import X509

/// Builds the `lumen serve` application: opens the store, loads the models, wires the routes and
/// the job runner (a service of the application, stopped with it).
public enum LumenServerApp {
    /// The application and its shared state (tests drive both).
    public static func build(_ configuration: ServerConfiguration, logger: Logger = Logger(label: "lumen.serve"))
        throws -> (Application<RouterResponder<LumenRequestContext>>, ServerState)
    {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: configuration.imagesDirectory, withIntermediateDirectories: true)
        let store = try SQLiteJobStore(path: configuration.databasePath)
        let catalog = ModelCatalog(builtIn: configuration.builtInModel, modelsFolder: configuration.modelsDirectory,
                                   tokenizerPath: configuration.tokenizerPath, maxLoaded: configuration.maxLoadedModels)
        for model in catalog.models where !model.available {
            logger.warning("model \(model.id) is unavailable: \(model.reason ?? "unknown reason")")
        }
        let keys = try SigningKeys.resolve(dataDirectory: configuration.dataDirectory, keyPath: configuration.signingKeyPath,
                                           chainPath: configuration.signingChainPath, timeStampURL: configuration.timeStampURL)
        if let created = keys.createdTestCA {
            logger.notice("created a local test CA for Content Credentials in \(created.folder); its root is \(created.rootCertificate)")
        }
        let events = JobEvents()
        let runner = JobRunner(store: store, catalog: catalog, events: events, imagesDirectory: configuration.imagesDirectory,
                               concurrency: configuration.concurrency, signing: keys.identity, logger: logger)
        var anchors: [Certificate] = []
        let ownRoot = TestCertificateAuthority.Files(folder: SigningKeys.keysFolder(dataDirectory: configuration.dataDirectory)).rootCertificate
        for path in configuration.trustAnchorFiles + [ownRoot] where FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            anchors += try SigningIdentity.certificates(pem: text, file: path)
        }
        let state = ServerState(configuration: configuration, catalog: catalog, store: store, events: events, runner: runner,
                                arena: SQLiteArenaStore(store), trustAnchors: anchors, logger: logger)

        let router = try makeRouter(state)

        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Lumen/\(LumenVersion.string)"),
            services: [JobRunnerService(runner: runner)],
            logger: logger)
        return (app, state)
    }
}

extension LumenServerApp {
    /// Every route of the server, behind the error and authentication middleware.
    public static func makeRouter(_ state: ServerState) throws -> Router<LumenRequestContext> {
        let router = Router(context: LumenRequestContext.self)
        router.add(middleware: ErrorMiddleware(logger: state.logger))
        router.add(middleware: APIKeyAuthenticator(keys: state.configuration.apiKeys))
        ImagesController(state: state).addRoutes(to: router)
        ModelsController(state: state).addRoutes(to: router)
        JobsController(state: state).addRoutes(to: router)
        VerifyController(state: state).addRoutes(to: router)
        ArenaController(state: state).addRoutes(to: router)
        try WebController().addRoutes(to: router)
        return router
    }
}

/// Runs the job workers for as long as the application runs.
struct JobRunnerService: Service {
    let runner: JobRunner

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await runner.run()
        }
    }
}

extension LumenServerApp {
    /// Builds and runs the server until SIGINT/SIGTERM. Start-up failures (an unreadable data
    /// folder, a missing resource) are thrown before anything listens.
    public static func run(_ configuration: ServerConfiguration, logger: Logger = Logger(label: "lumen.serve")) async throws {
        let (app, _) = try build(configuration, logger: logger)
        try await app.runService()
    }
}
