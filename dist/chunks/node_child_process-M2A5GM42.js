import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as r,c as i}from"./chunk-67BG23Y2.js";var o=i((p,e)=>{e.exports=r("node:child_process")});export default o();
