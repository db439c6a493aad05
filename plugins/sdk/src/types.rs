//! Builders for what `describe` returns.

pub use crate::bindings::ferry::connector::types::{
    ActionInfo, ConnectorInfo, FieldInfo, FieldKind, ModuleInfo, Operation,
};

impl ConnectorInfo {
    /// A connector with no modules yet.
    pub fn new(name: &str, version: &str, description: &str) -> ConnectorInfo {
        ConnectorInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            modules: Vec::new(),
        }
    }

    /// Add a module.
    pub fn module(mut self, module: ModuleInfo) -> ConnectorInfo {
        self.modules.push(module);
        self
    }
}

impl ModuleInfo {
    /// A module with its id field; label = name, batch of one.
    pub fn new(name: &str, id_field: &str) -> ModuleInfo {
        ModuleInfo {
            name: name.into(),
            label: name.into(),
            id_field: id_field.into(),
            modified_field: None,
            fields: Vec::new(),
            operations: Vec::new(),
            actions: Vec::new(),
            max_batch: 1,
        }
    }
    pub fn label(mut self, label: &str) -> ModuleInfo {
        self.label = label.into();
        self
    }
    pub fn modified_field(mut self, field: &str) -> ModuleInfo {
        self.modified_field = Some(field.into());
        self
    }
    pub fn field(mut self, field: FieldInfo) -> ModuleInfo {
        self.fields.push(field);
        self
    }
    pub fn fields(mut self, fields: impl IntoIterator<Item = FieldInfo>) -> ModuleInfo {
        self.fields.extend(fields);
        self
    }
    pub fn operations(mut self, ops: &[Operation]) -> ModuleInfo {
        self.operations.extend_from_slice(ops);
        self
    }
    pub fn action(mut self, name: &str, description: &str) -> ModuleInfo {
        self.actions.push(ActionInfo {
            name: name.into(),
            description: description.into(),
        });
        self
    }
    pub fn max_batch(mut self, n: u32) -> ModuleInfo {
        self.max_batch = n;
        self
    }
}

impl FieldInfo {
    /// A field of any kind; label = name, optional, writable, standard.
    pub fn new(name: &str, kind: FieldKind) -> FieldInfo {
        FieldInfo {
            name: name.into(),
            label: name.into(),
            kind,
            required: false,
            read_only: false,
            custom: false,
            picklist: Vec::new(),
            lookup_module: None,
        }
    }
    pub fn text(name: &str) -> FieldInfo {
        FieldInfo::new(name, FieldKind::Text)
    }
    pub fn label(mut self, label: &str) -> FieldInfo {
        self.label = label.into();
        self
    }
    pub fn required(mut self) -> FieldInfo {
        self.required = true;
        self
    }
    pub fn read_only(mut self) -> FieldInfo {
        self.read_only = true;
        self
    }
    pub fn custom(mut self) -> FieldInfo {
        self.custom = true;
        self
    }
    pub fn picklist(mut self, values: &[&str]) -> FieldInfo {
        self.picklist = values.iter().map(|v| v.to_string()).collect();
        self
    }
    pub fn lookup(mut self, module: &str) -> FieldInfo {
        self.lookup_module = Some(module.into());
        self
    }
}
