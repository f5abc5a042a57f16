// The page's queries, as shown on it. Each runs over the local replicas.

export const JOIN = `[:find ?sku ?name ?price ?stock
 :in $catalog $inventory ?max
 :where [$catalog ?p :product/sku ?sku]
        [$catalog ?p :product/name ?name]
        [$catalog ?p :product/price ?price]
        [(<= ?price ?max)]
        [$inventory ?i :inventory/sku ?sku]
        [$inventory ?i :inventory/stock ?stock]
        [(pos? ?stock)]]`;

export const CATALOG_TXS = `[:find ?tx ?inst ?note
 :where [?tx :db/txInstant ?inst]
        [(get-else $ ?tx :tx/note "") ?note]]`;

export const TIME_TRAVEL = `[:find ?sku ?name ?then ?now ?stock
 :in $then $now $inventory
 :where [$then ?p :product/sku ?sku]
        [$then ?p :product/price ?then]
        [$now ?q :product/sku ?sku]
        [$now ?q :product/name ?name]
        [$now ?q :product/price ?now]
        [$inventory ?i :inventory/sku ?sku]
        [$inventory ?i :inventory/stock ?stock]
        [(pos? ?stock)]]`;

export const TENANTS = `[:find ?tenant (count ?o) (sum ?total)
 :in [[?tenant $db] ...] ?status
 :where [$db ?o :order/status ?status]
        [$db ?o :order/total ?total]]`;

export const TENANT_TOP_CATEGORY = `[:find ?tenant ?category (sum ?qty)
 :with ?o
 :in $catalog [[?tenant $db] ...]
 :where [$db ?o :order/sku ?sku]
        [$db ?o :order/qty ?qty]
        [$catalog ?p :product/sku ?sku]
        [$catalog ?p :product/category ?category]]`;

export const STOCK = `[:find ?sku ?name ?stock ?tx
 :in $catalog $inventory
 :where [$inventory ?i :inventory/stock ?stock ?tx]
        [$inventory ?i :inventory/sku ?sku]
        [$catalog ?p :product/sku ?sku]
        [$catalog ?p :product/name ?name]]`;

export const STOCK_BY_CATEGORY = `[:find ?category (sum ?stock)
 :with ?sku
 :in $catalog $inventory
 :where [$catalog ?p :product/category ?category]
        [$catalog ?p :product/sku ?sku]
        [$inventory ?i :inventory/sku ?sku]
        [$inventory ?i :inventory/stock ?stock]]`;

export const ORDERS_BY_STATUS = `[:find ?tenant ?status (count ?o)
 :in [[?tenant $db] ...]
 :where [$db ?o :order/status ?status]]`;

export const CONSOLE_EXAMPLE = `[:find ?category (count ?p) (avg ?price)
 :in $catalog
 :where [$catalog ?p :product/category ?category]
        [$catalog ?p :product/price ?price]]`;

export const CONSOLE_EXAMPLES = {
  'Products per category': CONSOLE_EXAMPLE,
  'Out of stock (join)': `[:find ?sku ?name
 :in $catalog $inventory
 :where [$inventory ?i :inventory/stock 0]
        [$inventory ?i :inventory/sku ?sku]
        [$catalog ?p :product/sku ?sku]
        [$catalog ?p :product/name ?name]]`,
  'Biggest orders, all tenants': `{:find [?tenant ?id ?total]
 :in [[[?tenant $db] ...]]
 :where [[$db ?o :order/total ?total]
         [(> ?total 1600.0)]
         [$db ?o :order/id ?id]]
 :limit 20}`,
  'Catalog history of one SKU': `[:find ?tx ?added ?price ?note
 :in $history
 :where [$history ?p :product/sku "SKU-0003"]
        [$history ?p :product/price ?price ?tx ?added]
        [$history ?tx :tx/note ?note]]`,
  'Pull': `[:find (pull $catalog ?p [:product/sku :product/name :product/price]) .
 :in $catalog
 :where [$catalog ?p :product/sku "SKU-0001"]]`,
  'Attributes of $ (pick it below)': `[:find ?attribute (count ?e)
 :where [?e ?attribute]]`,
};

// The watchlist (the page's own database) × the catalog × the inventory: three sources.
export const WATCH = `[:find ?sku ?name ?price ?stock
 :in $watch $catalog $inventory
 :where [$watch _ :watch/sku ?sku]
        [$catalog ?p :product/sku ?sku] [$catalog ?p :product/name ?name] [$catalog ?p :product/price ?price]
        [$inventory ?i :inventory/sku ?sku] [$inventory ?i :inventory/stock ?stock]]`;
