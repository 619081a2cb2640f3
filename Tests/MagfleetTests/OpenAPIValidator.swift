import Foundation

/// Checks JSON values against the schemas of Protocols/openapi.json: the subset of OpenAPI 3.0
/// schema objects that document uses ($ref, type, required, properties, additionalProperties,
/// items, enum, oneOf, minimum, maximum, minLength, minItems, maxItems). Returns what differs,
/// empty when the value conforms.
struct OpenAPIValidator {
    let document: [String: Any]

    init() throws {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/", !FileManager.default.fileExists(atPath: url.appendingPathComponent("Protocols/openapi.json").path) {
            url = url.deletingLastPathComponent()
        }
        let data = try Data(contentsOf: url.appendingPathComponent("Protocols/openapi.json"))
        document = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// The schema of `path`'s `method` response with `status`, as application/json.
    func responseSchema(_ path: String, _ method: String, _ status: Int) -> [String: Any]? {
        guard let operation = ((document["paths"] as? [String: Any])?[path] as? [String: Any])?[method] as? [String: Any],
              var response = (operation["responses"] as? [String: Any])?[String(status)] as? [String: Any] else { return nil }
        if let ref = response["$ref"] as? String { response = resolve(ref) }
        return ((response["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
    }

    func resolve(_ ref: String) -> [String: Any] {
        var node: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return node as? [String: Any] ?? [:]
    }

    /// Problems of `value` against the response schema, or one saying there is no such response.
    func check(_ value: Any?, path: String, method: String = "get", status: Int) -> [String] {
        guard let schema = responseSchema(path, method, status) else { return ["no \(status) response of \(method) \(path) in the document"] }
        guard let value else { return ["the body is not JSON"] }
        return check(value, schema, at: "$")
    }

    func check(_ value: Any, _ schema: [String: Any], at where_: String) -> [String] {
        var schema = schema
        if let ref = schema["$ref"] as? String { schema = resolve(ref) }
        var problems: [String] = []
        if let options = schema["oneOf"] as? [[String: Any]] {
            let passing = options.filter { check(value, $0, at: where_).isEmpty }.count
            if passing != 1 { problems.append("\(where_): matches \(passing) of oneOf") }
        }
        if let type = schema["type"] as? String {
            let number = value as? NSNumber
            let isBool = number.map { String(cString: $0.objCType) == "c" } ?? false  // JSON true/false
            let ok: Bool
            switch type {
            case "object": ok = value is [String: Any]
            case "array": ok = value is [Any]
            case "string": ok = value is String
            case "boolean": ok = isBool
            case "integer": ok = number != nil && !isBool && number!.doubleValue == number!.doubleValue.rounded()
            case "number": ok = number != nil && !isBool
            default: ok = true
            }
            if !ok { return ["\(where_): expected \(type), got \(value)"] }
        }
        if let choices = schema["enum"] as? [String], let s = value as? String, !choices.contains(s) { problems.append("\(where_): \(s) not in \(choices)") }
        if let n = value as? NSNumber {
            if let min = schema["minimum"] as? Double, n.doubleValue < min { problems.append("\(where_): \(n) < \(min)") }
            if let max = schema["maximum"] as? Double, n.doubleValue > max { problems.append("\(where_): \(n) > \(max)") }
        }
        if let s = value as? String, let min = schema["minLength"] as? Int, s.count < min { problems.append("\(where_): shorter than \(min)") }
        if let array = value as? [Any] {
            if let min = schema["minItems"] as? Int, array.count < min { problems.append("\(where_): fewer than \(min) items") }
            if let max = schema["maxItems"] as? Int, array.count > max { problems.append("\(where_): more than \(max) items") }
            if let items = schema["items"] as? [String: Any] {
                for (i, item) in array.enumerated() { problems += check(item, items, at: "\(where_)[\(i)]") }
            }
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { problems.append("\(where_): missing \(key)") }
            for (key, item) in object {
                if let property = properties[key] as? [String: Any] {
                    problems += check(item, property, at: "\(where_).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(where_): unexpected property \(key)")
                }
            }
        }
        return problems
    }
}
