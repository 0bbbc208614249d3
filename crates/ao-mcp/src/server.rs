//! The handler: what the server says it is and can do, the tools' list (without `permit` and
//! `answer` unless replies are allowed) and their dispatch, and the resources.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};

use ao_core::live::LiveHub;

use crate::resources::{self, Subscriptions};
use crate::Options;

/// What `permit` and `answer` say when replies are not allowed.
fn replies_not_allowed(options: &Options) -> String {
    format!(
        "answering another session's requests is not allowed: a person answers them (ao permit, \
         ao answer, or the dashboard), or a person starts the server as `{}` to let this client \
         do it",
        options.allowed_by
    )
}

/// The tools only `--allow-replies` lists and runs.
const REPLY_TOOLS: [&str; 2] = ["permit", "answer"];

/// One client's MCP server over the shared live hub.
#[derive(Clone)]
pub struct AoMcp {
    hub: Arc<LiveHub>,
    options: Options,
    subscriptions: Arc<Subscriptions>,
    tool_router: ToolRouter<AoMcp>,
}

impl AoMcp {
    /// A server for one client.
    pub fn new(hub: Arc<LiveHub>, options: Options) -> AoMcp {
        AoMcp {
            hub,
            options,
            subscriptions: Arc::new(Subscriptions::default()),
            tool_router: AoMcp::tool_router(),
        }
    }

    /// The live hub: the sessions, and the manager actions go through.
    pub fn hub(&self) -> &Arc<LiveHub> {
        &self.hub
    }

    /// Whether `permit` and `answer` are served.
    pub fn allow_replies(&self) -> bool {
        self.options.allow_replies
    }

    fn serves(&self, tool: &str) -> bool {
        self.allow_replies() || !REPLY_TOOLS.contains(&tool)
    }
}

const INSTRUCTIONS: &str = "ao runs AI coding-agent sessions and knows exactly what each is \
    doing. spawn starts one on a task in a project of ao's config and returns its address \
    (project/name); wait follows it until it stops working (or a state you name); show, logs and \
    diff tell what it did and what it cost; send gives it a follow-up; kill stops it. A pending \
    permission request or question in status says who answers it. The resources \
    ao://sessions and ao://sessions/{project}/{name} can be subscribed to.";

impl ServerHandler for AoMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("ao", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    // `resources/subscribe` is what clients speak today; 2026-07-28 replaced it with
    // `subscriptions/listen`, which this server does not serve yet, so it offers the versions
    // before it (a newer client negotiates down at `initialize`).
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|t| self.serves(&t.name))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.serves(&request.name) {
            return Ok(crate::tools::refused(replies_not_allowed(&self.options)).into());
        }
        self.tool_router
            .call(ToolCallContext::new(self, request, context))
            .await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        // A client that lists resources hears when the list changes.
        self.subscriptions.follow(self.hub.clone(), context.peer);
        Ok(ListResourcesResult::with_all_items(resources::list(
            &self.hub,
        )))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.hub, &request.uri).map(Into::into)
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resources::check_subscribable(&request.uri)?;
        self.subscriptions.add(request.uri);
        self.subscriptions.follow(self.hub.clone(), context.peer);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.remove(&request.uri);
        Ok(())
    }
}
