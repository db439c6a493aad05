//! Ferry plugin SDK.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_connector",
        default_bindings_module: "ferry_plugin_sdk::bindings",
    });
}
