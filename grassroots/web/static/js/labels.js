// The interface's Chinese names of the API's enum values.

export const AREA_KIND = {
  CITY: "市", DISTRICT: "区县", SUBDISTRICT: "街道", TOWNSHIP: "乡镇",
  COMMUNITY: "社区", VILLAGE: "村", GRID: "网格", BUILDING: "楼栋",
};

export const ORG_FORM = {
  COMMITTEE: "党委", WORKING_COMMITTEE: "党工委", GENERAL_BRANCH: "党总支",
  BRANCH: "党支部", GROUP: "党小组",
};

// a branch on a grid is a 网格党支部, a group on a building a 楼栋党小组
export function orgForm(form, areaKind) {
  if (form === "BRANCH" && areaKind === "GRID") return "网格党支部";
  if (form === "GROUP" && areaKind === "BUILDING") return "楼栋党小组";
  return ORG_FORM[form] || form;
}

export const DISPATCH_ROLE = {
  RESIDENT: "驻村（社区）干部", LIAISON: "结对共建联络员", FIRST_SECRETARY: "第一书记",
};

export const POST_KIND = {
  SECRETARY: "书记", DEPUTY_SECRETARY: "副书记", COMMITTEE_MEMBER: "委员",
  GROUP_LEADER: "组长", GRID_LEADER: "网格长", OTHER: "其他",
};

export const UNIT_KIND = {
  AGENCY: "机关", PUBLIC_INSTITUTION: "事业单位", STATE_ENTERPRISE: "国有企业",
  PRIVATE_ENTERPRISE: "民营企业", POLICE: "公安", HOSPITAL: "医院", UTILITY: "公用事业单位",
  SCHOOL: "学校", SOCIAL_ORG: "社会组织", PROPERTY_COMPANY: "物业企业",
  NEW_ECONOMY: "新经济组织", OTHER: "其他",
};

export const SEVERITY = { MUST: "必须", SHOULD: "应当" };

export const PROJECT_STATUS = { planned: "计划中", active: "进行中", done: "已完成" };

export const GENDER = { M: "男", F: "女" };

export const percent = (ratio) => `${(ratio * 100).toFixed(1)}%`;
