use ferry_plugin_sdk::bindings::exports::ferry::connector::connector::*;
use ferry_plugin_sdk::bindings::ferry::connector::types::*;
struct P;
impl Guest for P {
    fn describe(_s: Json) -> Result<ConnectorInfo, ConnectorError> { Ok(ConnectorInfo{name:"x".into(),version:"0".into(),description:"".into(),modules:vec![]}) }
    fn configure(_s: Json) -> Result<(), ConnectorError> { Ok(()) }
    fn check() -> Result<(), ConnectorError> { Ok(()) }
    fn list(_m: String, _s: Option<String>, _c: Option<String>) -> Result<Page, ConnectorError> { Err(ConnectorError::Unsupported("x".into())) }
    fn get(_m: String, _i: String) -> Result<Json, ConnectorError> { Err(ConnectorError::Unsupported("x".into())) }
    fn find(_m: String, _c: Json) -> Result<Vec<Json>, ConnectorError> { Err(ConnectorError::Unsupported("x".into())) }
    fn deleted(_m: String, _s: Option<String>, _c: Option<String>) -> Result<DeletedPage, ConnectorError> { Err(ConnectorError::Unsupported("x".into())) }
    fn create(_m: String, _r: Vec<Json>) -> Result<Vec<WriteResult>, ConnectorError> { Err(ConnectorError::Unsupported("x".into())) }
    fn update(_m: String, _r: Vec<Json>) -> Result<Vec<WriteResult>, ConnectorError> { Err(ConnectorError::Unsupported("x".into())) }
    fn delete(_m: String, _r: Vec<String>) -> Result<Vec<WriteResult>, ConnectorError> { Err(ConnectorError::Unsupported("x".into())) }
    fn act(_m: String, _i: String, _a: String, _r: Json) -> Result<Json, ConnectorError> { let v: serde_json::Value = serde_json::from_str(&_r).unwrap(); Ok(v.to_string()) }
}
ferry_plugin_sdk::bindings::export_connector!(P);
